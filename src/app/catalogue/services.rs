//! A provider's services in the catalogue: upsert one by the marketplace's
//! external id (created, changed or left as it was). A service's length is
//! what a booking or a hold of it takes from a start (`bookings`); changing
//! it never moves a booking already made.

use entity::{provider, service};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Upserted, check_currency, check_external_id, check_text, existing_provider};
use crate::app::storage::unit_of_work::{CatalogueWrite, conflict_on_duplicate};
use crate::app::{App, AppError};
use crate::domain::SLOT_MINUTES_RANGE;
use crate::events::relay::{CatalogueChange, notify_catalogue};

/// A service as the marketplace describes it.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceFields {
    pub name: String,
    #[schema(minimum = 5, maximum = 480)]
    pub duration_minutes: i32,
    /// Price in the currency's minor unit (`4000` with `PLN` is 40.00 zł).
    pub price_minor: i64,
    pub currency: String,
}

/// A service as the admin API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminService {
    pub id: Uuid,
    pub external_id: String,
    pub provider_id: Uuid,
    pub name: String,
    pub duration_minutes: i32,
    pub price_minor: i64,
    pub currency: String,
}

impl ServiceFields {
    pub(in crate::app) fn check(&self) -> Result<(), AppError> {
        check_text("name", &self.name, 200)?;
        let minutes = u32::try_from(self.duration_minutes).unwrap_or(0);
        if !SLOT_MINUTES_RANGE.contains(&minutes) {
            return Err(AppError::Invalid("durationMinutes must be between 5 and 480".into()));
        }
        if !(0..=1_000_000_000_000).contains(&self.price_minor) {
            return Err(AppError::Invalid("priceMinor must be between 0 and 10^12".into()));
        }
        check_currency(&self.currency)
    }

    fn same_as(&self, row: &service::Model) -> bool {
        self.name == row.name
            && self.duration_minutes == row.duration_minutes
            && self.price_minor == row.price_cents
            && self.currency == row.currency
    }
}

pub(super) fn service_view(row: service::Model) -> AdminService {
    AdminService {
        id: row.id,
        external_id: row.external_id.unwrap_or_default(),
        provider_id: row.provider_id,
        name: row.name,
        duration_minutes: row.duration_minutes,
        price_minor: row.price_cents,
        currency: row.currency,
    }
}

impl App {
    /// Create or update the service `external_service_id` of the provider `external_id`.
    #[tracing::instrument(skip(self, fields))]
    pub async fn upsert_service(
        &self,
        external_id: &str,
        external_service_id: &str,
        fields: ServiceFields,
    ) -> Result<(AdminService, Upserted), AppError> {
        check_external_id("externalServiceId", external_service_id)?;
        fields.check()?;
        if let Some(row) = unchanged_service(&self.db, external_id, external_service_id, &fields).await? {
            return Ok((service_view(row), Upserted::Unchanged));
        }
        let write = CatalogueWrite::begin(self).await?;
        let provider = existing_provider(&write.tx, external_id).await?;
        let existing = service::Entity::find()
            .filter(service::Column::ProviderId.eq(provider.id))
            .filter(service::Column::ExternalId.eq(external_service_id))
            .one(&write.tx)
            .await?;
        let (row, outcome) = match existing {
            None => {
                let row = service::Model {
                    id: Uuid::new_v4(),
                    provider_id: provider.id,
                    name: fields.name,
                    duration_minutes: fields.duration_minutes,
                    price_cents: fields.price_minor,
                    currency: fields.currency,
                    external_id: Some(external_service_id.to_owned()),
                };
                service::Entity::insert(service::ActiveModel::from(row.clone()).reset_all())
                    .exec_without_returning(&write.tx)
                    .await
                    .map_err(conflict_on_duplicate)?;
                (row, Upserted::Created)
            }
            Some(row) if fields.same_as(&row) => (row, Upserted::Unchanged),
            Some(row) => {
                let changed = service::Model {
                    name: fields.name,
                    duration_minutes: fields.duration_minutes,
                    price_cents: fields.price_minor,
                    currency: fields.currency,
                    ..row
                };
                service::Entity::update(service::ActiveModel::from(changed.clone()).reset_all())
                    .exec(&write.tx)
                    .await?;
                (changed, Upserted::Changed)
            }
        };
        if outcome != Upserted::Unchanged {
            // The search index (here and on other instances) shows services.
            let change = CatalogueChange::Provider(provider.id);
            notify_catalogue(&write.tx, &change).await?;
            let app = self.clone();
            write.commit_then(move || app.catalogue_changed(&change)).await?;
        } else {
            write.commit().await?;
        }
        Ok((service_view(row), outcome))
    }
}

/// The service as stored, if it already has `fields` (a read, no write).
async fn unchanged_service(
    conn: &impl ConnectionTrait,
    external_id: &str,
    external_service_id: &str,
    fields: &ServiceFields,
) -> Result<Option<service::Model>, DbErr> {
    let Some(provider) =
        provider::Entity::find().filter(provider::Column::ExternalId.eq(external_id)).one(conn).await?
    else {
        return Ok(None);
    };
    Ok(service::Entity::find()
        .filter(service::Column::ProviderId.eq(provider.id))
        .filter(service::Column::ExternalId.eq(external_service_id))
        .one(conn)
        .await?
        .filter(|row| fields.same_as(row)))
}
