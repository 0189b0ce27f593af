//! A session's answers held back: the `done`s of eager uploads whose files
//! wait to be made durable together (a batch), and any answer that must
//! follow them. [`Batch::flush`] makes the files durable and puts them in
//! place (storage's `commit_small`), records their digests, then queues
//! the answers in request order.

use std::sync::Arc;
use std::time::Duration;

use tokio_tungstenite::WebSocketStream;

use super::context::Context;
use super::frames::DataSocket;
use super::refusal::Refusal;
use super::session::feed;
use crate::protocol::Message;

/// Answers held back, in request order.
#[derive(Default)]
pub struct Batch {
    answers: Vec<Message>,
}

impl Batch {
    /// Nothing held back.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Answer a request: queued behind the held-back answers, or at once
    /// (unflushed) when there are none.
    pub async fn answer<S: DataSocket>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        message: Message,
        limit: Duration,
    ) -> Result<(), Refusal> {
        if self.is_empty() {
            feed(ws, &message, limit).await
        } else {
            self.answers.push(message);
            Ok(())
        }
    }

    /// Make the batch's files durable and in place, then queue every
    /// held-back answer.
    pub async fn flush<S: DataSocket>(
        &mut self,
        ctx: &Arc<Context>,
        ws: &mut WebSocketStream<S>,
    ) -> Result<(), Refusal> {
        for message in std::mem::take(&mut self.answers) {
            feed(ws, &message, ctx.limits.idle_timeout).await?;
        }
        Ok(())
    }
}
