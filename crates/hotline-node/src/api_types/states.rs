//! The closed sets of words the control API uses for where things stand:
//! typed here, spelled in JSON exactly as before (`"in"`, `"delivered"`,
//! `"expiring"`, …). Each compares equal to its JSON word, so callers
//! that held strings keep working.

use hotline_core::RecordStatus;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! words {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $word)] $variant),+
        }

        impl $name {
            /// The word the API uses.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

words! {
    /// Whether a message was received here or written here.
    Direction {
        /// Received from another node.
        In => "in",
        /// Written and sent from this node.
        Out => "out",
    }
}

words! {
    /// Where a message stands.
    MessageState {
        /// Received here (and its receipt returned).
        Received => "received",
        /// Sent; some recipient node has not receipted yet.
        Queued => "queued",
        /// Sent; every recipient node has receipted.
        Delivered => "delivered",
        /// Sent; the sender cancelled the deliveries still queued (some
        /// recipient node may have receipted before).
        Cancelled => "cancelled",
    }
}

words! {
    /// Where a message stands with one recipient node.
    DeliveryState {
        /// No receipt yet.
        Queued => "queued",
        /// A signed receipt verified.
        Delivered => "delivered",
        /// Withdrawn by the sender before a receipt came.
        Cancelled => "cancelled",
        /// Taken off this node before a receipt came, because its state no
        /// longer lists it (revoked it, or left it out of its record); the
        /// message went to the nodes the record lists now.
        Withdrawn => "withdrawn",
    }
}

words! {
    /// A contact record's status as the node shows it.
    RecordState {
        /// In force, not close to expiry.
        Current => "current",
        /// In force, expiring soon.
        Expiring => "expiring",
        /// Past its expiry.
        Expired => "expired",
        /// Revoked by its state.
        Revoked => "revoked",
        /// In force, but its point of contact failed the last two
        /// communication checks this node ran.
        Unconfirmed => "unconfirmed",
    }
}

impl From<RecordStatus> for RecordState {
    fn from(status: RecordStatus) -> RecordState {
        match status {
            RecordStatus::Current => RecordState::Current,
            RecordStatus::Expiring => RecordState::Expiring,
            RecordStatus::Expired => RecordState::Expired,
            RecordStatus::Revoked => RecordState::Revoked,
        }
    }
}

impl RecordState {
    /// Whether the record is in force (current, expiring or unconfirmed).
    pub fn is_in_force(self) -> bool {
        matches!(self, RecordState::Current | RecordState::Expiring | RecordState::Unconfirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON is the word, as before the types.
    #[test]
    fn each_state_is_its_word_in_json() {
        assert_eq!(serde_json::to_string(&Direction::In).unwrap(), "\"in\"");
        assert_eq!(serde_json::to_string(&MessageState::Delivered).unwrap(), "\"delivered\"");
        assert_eq!(serde_json::to_string(&DeliveryState::Queued).unwrap(), "\"queued\"");
        assert_eq!(serde_json::to_string(&RecordState::Unconfirmed).unwrap(), "\"unconfirmed\"");
        assert_eq!(serde_json::from_str::<RecordState>("\"expiring\"").unwrap(), RecordState::Expiring);
        assert!(serde_json::from_str::<MessageState>("\"lost\"").is_err());
        assert!(MessageState::Queued == "queued" && Direction::Out != "in");
    }
}
