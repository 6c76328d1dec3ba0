//! The changes of many providers as one stream, resumable from one cursor
//! (`events::cursor`): every listed provider's subscription, each from its
//! own position, merged, each delivery tagged with its provider's index.
//!
//! Subscribed to every provider before the stream is returned, so no
//! change committed afterwards is missed. A deactivated provider is left
//! out (or dropped once its final event is sent) and the stream goes on
//! with the others; a stream none of whose providers can ever serve is
//! refused (`AppError::Gone`). One subscription failing ends the whole
//! stream: the client resumes from its cursor and loses nothing.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_util::{Stream, StreamExt};
use uuid::Uuid;

use crate::app::{App, AppError};
use crate::events::{self, Delivery, Resume, versions};

/// The changes of many providers on one stream: each delivery tagged with
/// the index of its provider in the list, and where each provider starts.
pub struct ManyChanges<S> {
    /// The position of every provider before the first delivery.
    pub positions: Vec<i64>,
    pub deliveries: S,
}

impl App {
    /// The changes of every listed provider on one stream, each from its
    /// position in `resume` (a decoded cursor) or, without one, from now.
    /// Subscribed to all of them before this returns. Deactivated providers
    /// are left out (their positions stay in the cursor), and one
    /// deactivated while the stream is open leaves it after its final
    /// `Ended`; `Gone` when every listed provider is deactivated: such a
    /// stream could never deliver anything.
    pub async fn changes_of_many(
        &self,
        provider_ids: &[Uuid],
        resume: Option<Vec<i64>>,
    ) -> Result<ManyChanges<impl Stream<Item = (usize, Delivery)> + Send + 'static>, AppError> {
        let providers = self.listed_providers(provider_ids).await?;
        if providers.iter().all(|p| !p.active) {
            return Err(AppError::Gone("every listed provider is deactivated".into()));
        }
        // From now on: each provider from its committed version, read once
        // for all, so the cursor names every position from the first event.
        let positions = match resume {
            Some(positions) => positions,
            None => {
                versions::committed_many(&self.db, provider_ids).await?.into_iter().map(|v| v.unwrap_or(0)).collect()
            }
        };
        let subscriptions = futures_util::future::try_join_all(
            providers.iter().zip(&positions).enumerate().filter(|(_, (provider, _))| provider.active).map(
                |(index, (provider, &after))| async move {
                    let deliveries = events::subscribe(
                        self.db.clone(),
                        self.bus.clone(),
                        self.health.clone(),
                        provider.id,
                        Resume::After(after),
                    )
                    .await?;
                    Ok::<_, sea_orm::DbErr>(OneOfMany {
                        index,
                        deliveries: Some(Box::pin(deliveries)),
                        deactivated: false,
                    })
                },
            ),
        )
        .await?;
        // Ends when every provider has left (deactivated), or at the first
        // `None`: one subscription failed.
        let deliveries = futures_util::stream::select_all(subscriptions)
            .take_while(|item| std::future::ready(item.is_some()))
            .filter_map(std::future::ready);
        Ok(ManyChanges { positions, deliveries })
    }
}

/// One provider's subscription on a many-providers stream, its deliveries
/// tagged with the provider's index in the list. After a final `Ended` (the
/// provider was deactivated) it simply finishes, and the stream goes on with
/// the others. Ending without one (the database failed) it gives `None`,
/// which ends the whole stream: the client resumes from its cursor and
/// loses nothing, where carrying on would silently drop that provider.
struct OneOfMany<S> {
    index: usize,
    /// `None` once finished.
    deliveries: Option<Pin<Box<S>>>,
    /// The last delivery was `Ended`.
    deactivated: bool,
}

impl<S: Stream<Item = Delivery>> Stream for OneOfMany<S> {
    type Item = Option<(usize, Delivery)>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(deliveries) = this.deliveries.as_mut() else { return Poll::Ready(None) };
        match ready!(deliveries.as_mut().poll_next(cx)) {
            Some(delivery) => {
                this.deactivated = matches!(delivery, Delivery::Ended);
                Poll::Ready(Some(Some((this.index, delivery))))
            }
            None => {
                this.deliveries = None;
                Poll::Ready((!this.deactivated).then_some(None))
            }
        }
    }
}

// The subscription is boxed; nothing else is pinned.
impl<S> Unpin for OneOfMany<S> {}
