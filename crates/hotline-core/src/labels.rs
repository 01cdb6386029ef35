//! Labels shared by records and messages: the message types of UN/OSCE
//! practice and the Traffic Light Protocol (TLP 2.0).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Traffic Light Protocol 2.0 label. The default for Hotline messages is AMBER.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub enum Tlp {
    /// TLP:CLEAR — no limit on disclosure.
    #[serde(rename = "CLEAR")]
    Clear,
    /// TLP:GREEN — the community.
    #[serde(rename = "GREEN")]
    Green,
    /// TLP:AMBER — the recipient's organisation and its clients.
    #[default]
    #[serde(rename = "AMBER")]
    Amber,
    /// TLP:AMBER+STRICT — the recipient's organisation only.
    #[serde(rename = "AMBER+STRICT")]
    AmberStrict,
    /// TLP:RED — the named recipients only.
    #[serde(rename = "RED")]
    Red,
}

impl Tlp {
    /// The label as written in TLP 2.0.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tlp::Clear => "CLEAR",
            Tlp::Green => "GREEN",
            Tlp::Amber => "AMBER",
            Tlp::AmberStrict => "AMBER+STRICT",
            Tlp::Red => "RED",
        }
    }
}

impl fmt::Display for Tlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLP:{}", self.as_str())
    }
}

impl FromStr for Tlp {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let upper = s.trim().to_ascii_uppercase();
        let label = upper.strip_prefix("TLP:").unwrap_or(&upper);
        Ok(match label {
            "CLEAR" | "WHITE" => Tlp::Clear,
            "GREEN" => Tlp::Green,
            "AMBER" => Tlp::Amber,
            "AMBER+STRICT" | "AMBER_STRICT" | "AMBER-STRICT" => Tlp::AmberStrict,
            "RED" => Tlp::Red,
            _ => return Err(format!("'{s}' is not a TLP 2.0 label (CLEAR, GREEN, AMBER, AMBER+STRICT, RED)")),
        })
    }
}

macro_rules! message_types {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// A structured message type, following UN and OSCE practice.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum MessageType {
            $(#[doc = $doc] $variant,)*
        }

        impl MessageType {
            /// Every message type, in wire order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$variant,)*];

            /// The snake_case name used on the command line and in JSON.
            pub fn as_str(&self) -> &'static str {
                match self { $(MessageType::$variant => $name,)* }
            }
        }

        impl FromStr for MessageType {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok(MessageType::$variant),)*
                    _ => Err(format!(
                        "'{s}' is not a message type; use one of: {}",
                        [$($name),*].join(", ")
                    )),
                }
            }
        }
    };
}

message_types! {
    Notification => "notification", "Notice of an incident or a concern.";
    RequestForInformation => "request_for_information", "A request for information about an incident.";
    RequestForAssistance => "request_for_assistance", "A request for technical or other assistance.";
    ConsultationRequest => "consultation_request", "A request for consultations to reduce the risk of escalation.";
    Response => "response", "A substantive answer to an earlier message.";
    StatusUpdate => "status_update", "News on a case in progress.";
    CaseClose => "case_close", "Closes a case.";
    VulnerabilityNotice => "vulnerability_notice", "Notice of a vulnerability.";
    Referral => "referral", "Refers a case to another point of contact.";
    HumanAck => "human_ack", "A person's acknowledgement that a message was read.";
    ComcheckChallenge => "comcheck_challenge", "A communication check (ping test) challenge.";
    ComcheckReply => "comcheck_reply", "The answer to a communication check.";
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in MessageType::ALL {
            assert_eq!(t.as_str().parse::<MessageType>(), Ok(*t));
        }
        assert!("chat".parse::<MessageType>().is_err());
        assert_eq!("amber+strict".parse::<Tlp>(), Ok(Tlp::AmberStrict));
        assert_eq!(Tlp::default(), Tlp::Amber);
    }
}
