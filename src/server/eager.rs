//! An eager `put` in a session.

use std::sync::Arc;

use tokio_tungstenite::WebSocketStream;

use super::batch::Batch;
use super::context::Context;
use super::frames::DataSocket;
use super::refusal::Refusal;
use super::request::PutRequest;
use super::shutdown::Shutdown;
use super::upload::Stored;
use crate::protocol::ErrorCode;

/// Receive an eager upload.
pub async fn receive<S: DataSocket>(
    _ctx: &Arc<Context>,
    _ws: &mut WebSocketStream<S>,
    _put: PutRequest,
    _batch: &mut Batch,
    _shutdown: &mut Shutdown,
) -> Result<Stored, Refusal> {
    Err(Refusal::new(ErrorCode::BadRequest, "eager put: not yet"))
}
