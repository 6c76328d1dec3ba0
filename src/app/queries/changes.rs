//! The change-stream query: a provider's committed changes from a resume
//! point, the door the SSE handler reads through (as the availability GET
//! reads through `App::availability`).

use futures_util::Stream;
use uuid::Uuid;

use crate::app::{App, AppError};
use crate::events::{self, Delivery, Resume};

impl App {
    /// The provider's changes after `resume`. Subscribed before this returns:
    /// every change committed afterwards is delivered, so a client that has
    /// seen its stream open may write and count on seeing its change.
    pub async fn changes(
        &self,
        provider_id: Uuid,
        resume: Resume,
    ) -> Result<impl Stream<Item = Delivery> + Send + 'static, AppError> {
        // Unknown provider: NotFound before anything is subscribed; a
        // deactivated one: Gone (an EventSource stops reconnecting on it).
        self.directory.get_active(provider_id).await?;
        Ok(events::subscribe(self.db.clone(), self.bus.clone(), self.health.clone(), provider_id, resume).await?)
    }
}
