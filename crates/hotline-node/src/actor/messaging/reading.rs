//! The one write of the read side: marking a message read.

use super::*;

impl Actor {
    /// Marks received message `id` read, durably, then answers with its
    /// view. The reads themselves run off the actor (`crate::mailbox`).
    pub(in crate::actor) fn mark_read(
        &mut self,
        id: MessageId,
        reply: oneshot::Sender<Result<MessageView, NodeError>>,
    ) {
        let row = match self.store.message(&id) {
            Ok(Some(row)) => row,
            Ok(None) => {
                let _ = reply.send(Err(NodeError::NotFound(format!("no message {id} is held"))));
                return;
            }
            Err(e) => {
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let mut batch = WriteBatch::new();
        let row = match row {
            // An acknowledgement of it is being sealed or written, and the
            // row it writes says read. A write of our own, from the row as
            // stored now, would land after it and erase the acknowledgement
            // (and a second `ack` would then send a duplicate): show it
            // read, and leave the write to the acknowledgement.
            MessageRow::Received(mut r) if !r.read && self.mail.acks_in_flight.contains_key(&id) => {
                r.read = true;
                MessageRow::Received(r)
            }
            MessageRow::Received(mut r) if !r.read => {
                r.read = true;
                let row = MessageRow::Received(r);
                batch.put_message(id, &row);
                row
            }
            other => other,
        };
        let view =
            self.store.snapshot().map_err(NodeError::from).and_then(|snap| self.mail_reader.view(&snap, id, row));
        if batch.is_empty() || view.is_err() {
            let _ = reply.send(view);
        } else {
            self.persist_with(Vec::new(), batch, After::Shown { reply, view: view.map(Box::new) }, Vec::new());
        }
    }
}
