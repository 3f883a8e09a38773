//! When a streaming list gives way to a paged list.
//!
//! A streaming list ends its initial events with a bookmark. Two things can keep that bookmark
//! from coming: the source does not stream at all (it answers
//! [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported): every etcd or HTTP source under
//! [`InitialList::Auto`](super::InitialList::Auto)), or something between the reflector and
//! the server drops it (a proxy, an aggregated API server: kubernetes #140890), and the
//! stream just goes quiet. The second case is caught by two deadlines:
//! [`ReflectorConfig::initial_events_stall`](super::ReflectorConfig::initial_events_stall)
//! (nothing at all received for that long) and
//! [`ReflectorConfig::initial_events_deadline`](super::ReflectorConfig::initial_events_deadline)
//! (the whole initial stream). Either way the stream is dropped, the reflector lists in pages
//! from then on, the fallback is counted (`stream_fallbacks`), and it is logged once: at WARN
//! for a stall or an explicitly requested streaming list, at INFO for a source that simply does
//! not stream.

use std::time::Duration;

use tracing::{info, warn};

use super::metrics::Metrics;
use super::{InitialList, Runner};
use crate::source::{ErrorKind, ListerWatcher};
use crate::store::Store;

/// Why a streaming list was dropped.
pub(super) enum Fallback {
    /// The source answered unsupported.
    Unsupported(String),
    /// Nothing arrived for the stall time.
    Stalled { quiet: Duration, objects: usize },
    /// The end bookmark did not come within the total bound.
    Deadline { deadline: Duration, objects: usize },
}

impl<L, S> Runner<'_, L, S>
where
    L: ListerWatcher,
    S: Store<Object = L::Object>,
{
    /// Switches to paged lists for good; returns true (go on).
    pub(super) fn fall_back_to_list(&mut self, why: Fallback) -> bool {
        self.streaming = false;
        Metrics::inc(&self.metrics().stream_fallbacks);
        let requested = self.r.config.initial_list == InitialList::Streaming;
        match why {
            Fallback::Unsupported(error) if !requested => {
                info!(source = self.name(), %error, "streaming lists unsupported; using list + watch");
            }
            Fallback::Unsupported(error) => {
                self.metrics().source_error(ErrorKind::Unsupported);
                warn!(source = self.name(), %error, "streaming list requested but unsupported; using list + watch");
            }
            Fallback::Stalled { quiet, objects } => warn!(
                source = self.name(),
                objects,
                reason = "stalled",
                "streaming list received nothing for {quiet:?} before its end bookmark; \
                 dropping it for a paged list (and paged lists from now on)"
            ),
            Fallback::Deadline { deadline, objects } => warn!(
                source = self.name(),
                objects,
                reason = "deadline",
                "streaming list did not end within {deadline:?}; \
                 dropping it for a paged list (and paged lists from now on)"
            ),
        }
        true
    }
}
