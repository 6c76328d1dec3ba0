-- A marketplace's catalogue for the search benchmark (bash bench/run.sh --search),
-- written straight into a migrated PostgreSQL database: :providers providers in
-- four zones, three services each from a vocabulary of twelve, and 30-minute
-- slots from 09:00 to 18:00 on :days days from yesterday, three in ten blocked.
-- Straight SQL, not the import: the import writes each slot's event through
-- the unit of work, hours for ten million slots; the search reads only slots.
--   psql -v providers=10000 -v days=60 -f bench/search_catalogue.sql DATABASE
\set ON_ERROR_STOP on
BEGIN;
INSERT INTO provider (id, name, timezone, version, updated_at, address, currency, external_id)
SELECT gen_random_uuid(),
       'Bench provider ' || n,
       (ARRAY['Europe/Warsaw', 'Europe/London', 'America/New_York', 'Asia/Tokyo'])[1 + n % 4],
       1, now(), n || ' Bench Street',
       (ARRAY['PLN', 'GBP', 'USD', 'JPY'])[1 + n % 4],
       'bench-' || n
FROM generate_series(1, :providers) AS n;

INSERT INTO service (id, provider_id, name, duration_minutes, price_cents, currency, external_id)
SELECT gen_random_uuid(), p.id, v.name, v.minutes, v.price, p.currency, 'svc-' || k
FROM (SELECT id, currency, row_number() OVER (ORDER BY id) AS n FROM provider WHERE external_id LIKE 'bench-%') AS p
CROSS JOIN generate_series(0, 2) AS k
JOIN (VALUES (0, 'Haircut', 45, 7000), (1, 'Beard trim', 30, 4000), (2, 'Haircut & beard', 60, 10000),
             (3, 'Blow dry', 30, 2500), (4, 'Colour', 90, 15000), (5, 'Manicure', 45, 6000),
             (6, 'Massage 60 min', 60, 11000), (7, 'Massage 30 min', 30, 6500), (8, 'Physio consultation', 60, 12000),
             (9, 'Dental check-up', 30, 15000), (10, 'Private yoga', 60, 18000), (11, 'Tattoo consultation', 30, 0))
     AS v(i, name, minutes, price)
  ON v.i = (p.n * 7 + k * 5) % 12;

-- Ten million rows go in faster without the secondary indexes; they are
-- built again after, as the migrations define them.
DROP INDEX ix_slot_booking, ix_slot_hold_id, ux_availability_slot_external_slot_id, ux_slot_provider_date_start;
INSERT INTO availability_slot (id, provider_id, date, start_time, end_time, status, last_modified_at, from_schedule)
SELECT gen_random_uuid(), p.id, current_date - 1 + d,
       time '09:00' + make_interval(mins => 30 * s), time '09:30' + make_interval(mins => 30 * s),
       CASE WHEN random() < 0.3 THEN 'blocked' ELSE 'available' END, now(), false
FROM (SELECT id FROM provider WHERE external_id LIKE 'bench-%') AS p,
     generate_series(0, :days - 1) AS d, generate_series(0, 17) AS s;
SET maintenance_work_mem = '512MB';
CREATE INDEX ix_slot_booking ON availability_slot (booking_id);
CREATE INDEX ix_slot_hold_id ON availability_slot (hold_id);
CREATE UNIQUE INDEX ux_availability_slot_external_slot_id ON availability_slot (provider_id, external_slot_id);
CREATE UNIQUE INDEX ux_slot_provider_date_start ON availability_slot (provider_id, date, start_time);
COMMIT;
ANALYZE;
