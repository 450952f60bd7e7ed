//! The background tasks of a stand-in: each ends through the stand-in's cancellation token,
//! and [`Tasks::shutdown`] waits for them (within a grace period, then aborts what is left).
//! Dropping the set cancels and aborts them, so a stand-in never outlives its handle.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A stand-in's tasks and the token that ends them.
#[derive(Default)]
pub struct Tasks {
    token: CancellationToken,
    handles: Vec<JoinHandle<()>>,
}

impl Tasks {
    pub fn new() -> Tasks {
        Tasks::default()
    }

    /// Runs `work` until it ends or the set is cancelled.
    pub fn spawn(&mut self, work: impl Future<Output = ()> + Send + 'static) {
        let token = self.token.clone();
        self.handles.push(tokio::spawn(async move {
            tokio::select! {
                biased;
                () = token.cancelled() => {}
                () = work => {}
            }
        }));
    }

    /// Cancels every task and waits for them to end, at most `grace` (then the rest are
    /// aborted); whether they all ended in time.
    pub async fn shutdown(mut self, grace: Duration) -> bool {
        self.token.cancel();
        let handles = std::mem::take(&mut self.handles);
        let aborts: Vec<_> = handles.iter().map(JoinHandle::abort_handle).collect();
        let ended = tokio::time::timeout(grace, futures::future::join_all(handles))
            .await
            .is_ok();
        if !ended {
            for a in aborts {
                a.abort();
            }
        }
        ended
    }
}

impl Drop for Tasks {
    fn drop(&mut self) {
        self.token.cancel();
        for h in &self.handles {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn shutdown_ends_every_task_through_the_token() {
        let mut tasks = Tasks::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        tasks.spawn(async move {
            // would run for ever; only the token ends it
            let _keep = tx;
            std::future::pending::<()>().await
        });
        assert!(tasks.shutdown(Duration::from_secs(1)).await);
        // the task's future was dropped: its sender is gone
        assert!(rx.recv().await.is_none());
    }

    #[tokio::test]
    async fn a_dropped_set_stops_its_tasks() {
        let mut tasks = Tasks::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(1);
        tasks.spawn(async move {
            let _keep = tx;
            std::future::pending::<()>().await
        });
        drop(tasks);
        assert!(rx.recv().await.is_none());
    }
}
