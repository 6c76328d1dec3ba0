// The test app's build: `vite build` writes dist/, which the test serves
// from the slotstream server itself (`--static-dir dist`), so the app and
// the API share an origin.
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  // The package is linked (file:../../static): its `import 'react'` must
  // find this app's React, not look beside static/.
  resolve: { dedupe: ['react', 'react-dom'] },
  build: { outDir: 'dist', emptyOutDir: true },
  logLevel: 'warn',
});
