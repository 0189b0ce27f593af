//! How a download's data frames go on a connection that negotiated
//! compression: `auto` on a socket that can `sendfile` first probes the
//! file's first frame.

use crate::protocol::CompressMode;
use crate::transfer::sender;

/// The compression mode of a download's frames. `auto` on a socket that
/// can `sendfile`: a file whose first frame does not shrink by a tenth is
/// sent raw (`off`: marker bytes only), by `sendfile` when it can be.
pub(super) async fn settle(
    plan: &sender::SendPlan,
    mode: Option<CompressMode>,
    can_sendfile: bool,
) -> Option<CompressMode> {
    if mode != Some(CompressMode::Auto) || !can_sendfile || plan.file.as_file().is_none() {
        return mode;
    }
    let len = crate::transfer::frame_len(plan.offset, plan.size, plan.chunk_size) as usize;
    let (body, offset) = (plan.file.clone(), plan.offset);
    let shrinks = tokio::task::spawn_blocking(move || {
        let mut sample = vec![0; len];
        body.read_exact_at(&mut sample, offset).is_ok()
            && crate::transfer::codec::shrinks(&sample, 0.9)
    });
    match shrinks.await {
        Ok(true) => mode,
        _ => Some(CompressMode::Off),
    }
}
