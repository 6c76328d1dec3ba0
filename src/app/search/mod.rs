//! Search by time across providers ("who can do a haircut tomorrow after
//! 17:00?"), answered from memory:
//! - `index`: every active provider's services and free slots as instants;
//! - `keeper`: the task that loads it and keeps it current from the bus's
//!   tap and the catalogue's changes;
//! - `load`: its reads of the database;
//! - `query`: the search, its cursor and its strong tag.

mod index;
mod keeper;
mod load;
mod query;

pub use index::SearchIndex;
pub use keeper::run as keep_search_index;
pub use query::{
    LIMIT_DEFAULT, LIMIT_MAX, SERVICE_TEXT_MAX, SearchBody, SearchCursor, SearchPage, SearchQuery, ServiceSuggestions,
};
