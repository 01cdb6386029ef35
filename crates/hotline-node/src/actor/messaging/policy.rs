//! The send policy: whether a message may go to a point of contact, to
//! which nodes, from which role and under which label. Pure: it reads the
//! directory and what the caller looked up, and decides; the actor does the
//! lookups, the randomness and the writing. Unit-tested below.

use crate::api_types::SendRequest;
use crate::error::SendError;
use hotline_core::{Address, Directory, Message, MessageId, NodeId, RecordStatus, Role, StateCode, Timestamp, Tlp};

/// What a send request is checked against.
pub(crate) struct SendContext<'a> {
    /// The node's directory.
    pub dir: &'a Directory,
    /// The state this node speaks for.
    pub state: StateCode,
    /// This node.
    pub node: NodeId,
    /// The time now.
    pub now: Timestamp,
    /// Whether a point of contact failed its last two communication checks.
    pub unconfirmed: &'a dyn Fn(&Address) -> bool,
}

/// The message a request answers, as the caller found it.
pub(crate) enum Parent {
    /// The request answers nothing.
    None,
    /// It answers a message this node does not hold.
    Missing(MessageId),
    /// It answers this message.
    Found(Box<Message>),
}

/// What the checks decided.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decision {
    /// The recipient's nodes to seal for: the member nodes of its record
    /// (every listed node when a forced message waits for an expired
    /// record's renewal).
    pub recipients: Vec<NodeId>,
    /// The sending role.
    pub from_role: Role,
    /// The label: the sender's, else the answered message's, else the one
    /// the recipient asks for, else AMBER.
    pub tlp: Tlp,
}

/// Checks `request` (answering `parent`) in `ctx`.
pub(crate) fn check_send(ctx: &SendContext<'_>, request: &SendRequest, parent: &Parent) -> Result<Decision, SendError> {
    let to = &request.to;
    if to.state == ctx.state {
        // Its deliveries would go to this state's own nodes, which refuse
        // a message from their own state, for ever.
        return Err(SendError::OwnState(to.clone()));
    }
    let charter = &ctx.dir.charter().charter;
    if !charter.has_role(&to.role) {
        return Err(SendError::UnknownRole { to: to.clone(), roles: charter.roles.clone() });
    }
    // Where to write instead, when this record cannot be written to.
    let others = || {
        ctx.dir
            .records(ctx.now)
            .into_iter()
            .filter(|r| r.record.record.state == to.state && r.record.record.role != to.role && r.status.is_in_force())
            .map(|r| r.record.record.role.clone())
            .collect()
    };
    let Some(record) = ctx.dir.record(to.state, &to.role) else {
        return Err(SendError::NoRecord { to: to.clone(), others: others() });
    };
    let status = ctx.dir.record_status(record, ctx.now);
    if status == RecordStatus::Revoked {
        return Err(SendError::RecordRevoked { to: to.clone(), others: others() });
    }
    let expired = status == RecordStatus::Expired;
    if expired && !request.force {
        // Forced, the message waits in the outbox until the state renews
        // the record and its nodes are members again.
        let why = format!("expired on {} and its nodes are not members now", record.record.expires);
        return Err(SendError::RecordExpired(super::stale_warning(to, &why, &record.record)));
    }
    if !request.force {
        if status == RecordStatus::Expiring {
            let why = format!("expires on {} and may be out of date", record.record.expires);
            return Err(SendError::RecordExpiring(super::stale_warning(to, &why, &record.record)));
        }
        if (ctx.unconfirmed)(to) {
            let why = "failed its last two communication checks";
            return Err(SendError::RecordUnconfirmed(super::stale_warning(to, why, &record.record)));
        }
    }
    // An expired record's nodes are not members; a forced message to them
    // is kept for the record's renewal.
    let recipients: Vec<NodeId> =
        record.record.nodes.iter().filter(|n| expired || ctx.dir.is_member_of(to.state, n, ctx.now)).copied().collect();
    if recipients.is_empty() {
        return Err(SendError::NoMemberNode(to.clone()));
    }
    let from_role = request.from_role.clone().unwrap_or_else(Role::technical);
    let listed = ctx
        .dir
        .record(ctx.state, &from_role)
        .is_some_and(|r| ctx.dir.record_status(r, ctx.now).is_in_force() && r.record.nodes.contains(&ctx.node));
    if !listed {
        return Err(SendError::NotListed(Address { state: ctx.state, role: from_role }));
    }
    let parent = match parent {
        Parent::None => None,
        Parent::Missing(id) => return Err(SendError::NoParent(*id)),
        Parent::Found(m) => Some(m),
    };
    let tlp = request.tlp.or(parent.map(|p| p.tlp)).or(record.record.default_tlp).unwrap_or_default();
    if let Some(parent) = parent
        && !request.force
    {
        if tlp < parent.tlp {
            return Err(SendError::TlpLowered { parent: parent.tlp, tlp });
        }
        if parent.is_exercise && !request.is_exercise {
            return Err(SendError::ExerciseDropped);
        }
    }
    Ok(Decision { recipients, from_role, tlp })
}

/// Deliveries of one message taken off nodes their state no longer lists,
/// and the nodes it is sealed for instead.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Move {
    /// The nodes whose queued deliveries are withdrawn.
    pub off: Vec<NodeId>,
    /// The nodes the message goes to instead.
    pub to: Vec<NodeId>,
}

/// What becomes of a message to `to` still queued for the `queued` nodes,
/// when `holding` are the nodes that hold it or will (a receipt from them,
/// or a delivery of their own still queued).
///
/// A queued node that is no longer a member *for the addressee's state*
/// (its state revoked it, or left it out of its records) will never take
/// the message: its delivery moves. Only the addressee's own state decides
/// that, with its own signed records and revocations; another state's
/// revocation or listing of the node changes nothing (a state may list,
/// and so revoke, any node id). The message goes to the nodes the
/// addressee's record in force lists now that are members and not already
/// `holding` it (if all of them do, the deliveries are only withdrawn). `None` when nothing moves, for instance
/// while the record lists no member node: the delivery then waits, and
/// moves once the state lists one.
pub(crate) fn plan_move(
    dir: &Directory,
    to: &Address,
    holding: &[NodeId],
    queued: &[NodeId],
    now: Timestamp,
) -> Option<Move> {
    let off: Vec<NodeId> = queued.iter().filter(|n| !dir.is_member_of(to.state, n, now)).copied().collect();
    if off.is_empty() {
        return None;
    }
    let record = dir.record(to.state, &to.role)?;
    if !dir.record_status(record, now).is_in_force() {
        return None;
    }
    let members: Vec<NodeId> =
        record.record.nodes.iter().filter(|n| dir.is_member_of(to.state, n, now)).copied().collect();
    if members.is_empty() {
        return None;
    }
    // Every member node already holding its own envelope: the deliveries
    // off the old nodes are withdrawn, and nothing new is queued.
    let instead = members.into_iter().filter(|n| !holding.contains(n)).collect();
    Some(Move { off, to: instead })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotline_core::testkit::{IntoObject, T0, World};
    use hotline_core::{MessageType, Outcome};

    /// FRA and DEU admitted, each with a technical record listing its node 0.
    fn directory(w: &World) -> Directory {
        let mut dir = Directory::new(w.charter.clone()).unwrap_or_else(|e| panic!("{e}"));
        for s in ["FRA", "DEU"] {
            for object in [w.admission(s, 1).obj(), w.record(s, "technical", 1, 1).obj()] {
                assert!(matches!(dir.apply(object, T0), Ok(Outcome::Applied(_))));
            }
        }
        dir
    }

    fn to(state: &str) -> SendRequest {
        let to = Address { state: state.parse().unwrap_or_else(|e| panic!("{e}")), role: Role::technical() };
        SendRequest::new(to, MessageType::Notification, "subject")
    }

    fn check(w: &World, request: &SendRequest, parent: &Parent, unconfirmed: bool) -> Result<Decision, SendError> {
        let dir = directory(w);
        let flag = move |_: &Address| unconfirmed;
        let ctx = SendContext {
            dir: &dir,
            state: "FRA".parse().unwrap_or_else(|e| panic!("{e}")),
            node: w.node_id("FRA", 0),
            now: T0,
            unconfirmed: &flag,
        };
        check_send(&ctx, request, parent)
    }

    fn code(result: Result<Decision, SendError>) -> &'static str {
        result.err().map_or("sent", |e| e.code())
    }

    /// DEU's question to FRA, labelled `tlp`.
    fn parent(tlp: Tlp, is_exercise: bool) -> Parent {
        Parent::Found(Box::new(Message {
            msg_id: MessageId([1; 16]),
            case_id: hotline_core::CaseId([2; 16]),
            in_reply_to: None,
            kind: MessageType::RequestForInformation,
            from: to("DEU").to,
            to: to("FRA").to,
            created_at: T0,
            lang: None,
            tlp,
            severity: None,
            is_exercise,
            respond_by: None,
            subject: "question".into(),
            body: String::new(),
            fields: hotline_core::Fields::None,
            attachments: Vec::new(),
        }))
    }

    #[test]
    fn a_message_goes_to_the_member_nodes_of_the_record_under_its_label() {
        let w = World::default();
        let decision = check(&w, &to("DEU"), &Parent::None, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decision.recipients, vec![w.node_id("DEU", 0)]);
        assert_eq!((decision.from_role, decision.tlp), (Role::technical(), Tlp::Amber));
    }

    #[test]
    fn a_delivery_off_a_revoked_node_goes_to_the_member_nodes_not_yet_sealed_for() {
        let w = World::default();
        let mut dir = directory(&w);
        let deu = to("DEU").to;
        // A node DEU no longer lists (or never did): its delivery moves.
        let lost = w.node_id("DEU", 5);
        let moved = plan_move(&dir, &deu, &[lost], &[lost], T0);
        assert_eq!(moved, Some(Move { off: vec![lost], to: vec![w.node_id("DEU", 0)] }));
        let sealed_for_both = [lost, w.node_id("DEU", 0)];
        // Every node listed holds its own envelope: withdrawn, nothing added.
        let withdrawn = plan_move(&dir, &deu, &sealed_for_both, &[lost], T0);
        assert_eq!(withdrawn, Some(Move { off: vec![lost], to: vec![] }), "it holds its own envelope");
        let mut policy = deu.clone();
        policy.role = Role::policy();
        assert_eq!(plan_move(&dir, &policy, &[lost], &[lost], T0), None, "no record: the delivery waits");
        // A node DEU lists stays, even once FRA lists it and revokes it.
        let listed = w.node_id("DEU", 0);
        assert_eq!(plan_move(&dir, &deu, &[listed], &[listed], T0), None);
        let mut fra_lists_it = w.record("FRA", "technical", 1, 2).record.clone();
        fra_lists_it.nodes.push(listed);
        let fra_record = hotline_core::SignedRecord::sign(fra_lists_it, &w.state_key("FRA", 1), &w.net).obj();
        assert!(matches!(dir.apply(fra_record, T0), Ok(Outcome::Applied(_))));
        let revocation = w.revoke_node_id("FRA", 1, listed, "not ours").obj();
        assert!(matches!(dir.apply(revocation, T0), Ok(Outcome::Applied(_))));
        assert_eq!(plan_move(&dir, &deu, &[listed], &[listed], T0), None, "another state cannot move it");
    }

    #[test]
    fn each_refusal_has_its_code() {
        let w = World::default();
        assert_eq!(code(check(&w, &to("FRA"), &Parent::None, false)), "own_state");
        assert_eq!(code(check(&w, &to("EST"), &Parent::None, false)), "not_found");
        let mut legal = to("DEU");
        legal.to.role = "legal".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(code(check(&w, &legal, &Parent::None, false)), "unknown_role");
        let mut policy = to("DEU");
        policy.from_role = Some(Role::policy());
        assert_eq!(code(check(&w, &policy, &Parent::None, false)), "not_listed", "FRA has no policy record");
        assert_eq!(code(check(&w, &to("DEU"), &Parent::Missing(MessageId([9; 16])), false)), "not_found");
    }

    #[test]
    fn a_refusal_says_where_to_write_instead() {
        let w = World::default();
        let mut legal = to("DEU");
        legal.to.role = "legal".parse().unwrap_or_else(|e| panic!("{e}"));
        let refused = check(&w, &legal, &Parent::None, false).err().map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("legal is not a role of this network: its charter declares policy and technical")
        );
        let mut policy = to("DEU");
        policy.to.role = Role::policy();
        let refused = check(&w, &policy, &Parent::None, false).err().map(|e| e.to_string());
        assert_eq!(refused.as_deref(), Some("no contact record of DEU/policy is held; write to DEU/technical instead"));
    }

    #[test]
    fn an_unconfirmed_contact_takes_force() {
        let w = World::default();
        assert_eq!(code(check(&w, &to("DEU"), &Parent::None, true)), "record_unconfirmed");
        let mut forced = to("DEU");
        forced.force = true;
        assert_eq!(code(check(&w, &forced, &Parent::None, true)), "sent");
    }

    #[test]
    fn a_reply_keeps_its_parents_label_and_exercise_mark_unless_forced() {
        let w = World::default();
        let decision = check(&w, &to("DEU"), &parent(Tlp::Red, false), false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decision.tlp, Tlp::Red, "the answered message's label by default");
        let mut lower = to("DEU");
        lower.tlp = Some(Tlp::Green);
        assert_eq!(code(check(&w, &lower, &parent(Tlp::Red, false), false)), "tlp_lowered");
        lower.force = true;
        assert_eq!(check(&w, &lower, &parent(Tlp::Red, false), false).map(|d| d.tlp).ok(), Some(Tlp::Green));
        assert_eq!(code(check(&w, &to("DEU"), &parent(Tlp::Amber, true), false)), "exercise_dropped");
        let mut drill = to("DEU");
        drill.is_exercise = true;
        assert_eq!(code(check(&w, &drill, &parent(Tlp::Amber, true), false)), "sent");
    }
}
