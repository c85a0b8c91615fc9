//! Debits that arrive together commit together: a group commit.
//!
//! SQLite takes one write at a time, and most of a debit's cost is the
//! transaction around it (file locks, a WAL frame), not the row. So the
//! first debit to arrive while none is running leads: it takes the waiting
//! ones with its own (up to [`MAX_BATCH`]) into one transaction, answers
//! each, and hands the lead to the next waiting debit, if any. The others
//! wait on a channel, not on a thread, so a runtime worker goes on with
//! other requests meanwhile. A debit alone is a batch of one.
//!
//! Before it takes the waiting debits, the leader yields once to the
//! runtime, so that the requests ready on its worker (and the sockets it
//! polls) reach their debits and join. Under load that makes batches of
//! about a dozen: `benches/http.sh` (32 connections, one metered key, 2
//! cores) measured 12 debits per batch instead of 1.2, and 66,000 metered
//! verifications a second instead of 44,000 (0.66 of `GET /healthz`
//! instead of 0.43). Alone, it costs a debit a trip through the scheduler.
//!
//! The leader then runs the batch on its own thread when this process's
//! writing connection is free, as point reads do, and on the blocking pool
//! when a commit holds it (an fsync). Checkpoints stay off that path too:
//! the debits' connection does not checkpoint, and once the WAL holds
//! [`CHECKPOINT_FRAMES`] frames a checkpoint runs on the blocking pool,
//! holding the writing connection, so that debits queue meanwhile and
//! commit in larger batches after it.

use super::key_cache::{KeyCache, wal_frames};
use super::meter::{self, Answer, Commit, Request};
use crate::store::StoreError;
use rusqlite::Connection;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, TryLockError};
use tokio::sync::oneshot;

/// The most debits one transaction takes.
const MAX_BATCH: usize = 128;

/// Past this many WAL frames a checkpoint runs (SQLite's own default).
pub(super) const CHECKPOINT_FRAMES: u32 = 1_000;

pub(super) struct Batcher {
    /// The writing connection: every write of this process holds its lock.
    pub(super) writer: Arc<Mutex<Connection>>,
    /// The debits' connection (`None` in memory: `writer`).
    pub(super) meter: Option<Arc<Mutex<Connection>>>,
    pub(super) cache: Option<Arc<KeyCache>>,
    queue: Mutex<Queue>,
    checkpointing: AtomicBool,
}

#[derive(Default)]
struct Queue {
    /// A debit is leading (its batch runs or is about to).
    leading: bool,
    waiting: VecDeque<Waiting>,
}

struct Waiting {
    request: Request,
    reply: oneshot::Sender<Reply>,
}

enum Reply {
    Done(Answer),
    /// Nothing was done with the request: its caller leads now.
    Lead(Request),
}

impl Batcher {
    pub(super) fn new(
        writer: Arc<Mutex<Connection>>,
        meter: Option<Arc<Mutex<Connection>>>,
        cache: Option<Arc<KeyCache>>,
    ) -> Self {
        Batcher {
            writer,
            meter,
            cache,
            queue: Mutex::default(),
            checkpointing: AtomicBool::new(false),
        }
    }

    /// Applies `request` in a batch at `synchronous = NORMAL`; `Ok(None)`
    /// when it needs a lease (`meter::Commit`).
    pub(super) async fn debit(self: &Arc<Self>, request: Request) -> Answer {
        let receiver = self.join(request);
        let request = match receiver {
            Ok(request) => request,
            Err(receiver) => {
                let mut follower = Follower {
                    batcher: self,
                    receiver: Some(receiver),
                };
                match follower.reply().await {
                    Reply::Done(answer) => return answer,
                    Reply::Lead(request) => request,
                }
            }
        };
        self.lead(request).await
    }

    /// Takes the lead (`Ok`: the request back) or joins the waiting
    /// debits (`Err`: where the reply comes).
    fn join(&self, request: Request) -> Result<Request, oneshot::Receiver<Reply>> {
        let mut queue = self.queue();
        if !queue.leading {
            queue.leading = true;
            return Ok(request);
        }
        let (reply, receiver) = oneshot::channel();
        queue.waiting.push_back(Waiting { request, reply });
        Err(receiver)
    }

    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        // Nothing is left half-done under this lock.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn lead(self: &Arc<Self>, mine: Request) -> Answer {
        // Hands the lead on however this ends: a panic, or the caller
        // going away at the yield.
        let lead = HandOn(Some(self));
        tokio::task::yield_now().await;
        match self.writer.try_lock() {
            Ok(mut writer) => return self.run(&mut writer, mine),
            // A panic cannot leave a transaction half-applied.
            Err(TryLockError::Poisoned(p)) => return self.run(&mut p.into_inner(), mine),
            Err(TryLockError::WouldBlock) => {}
        }
        // From here the blocking task hands the lead on, even when this
        // future is dropped while it runs.
        lead.disarm();
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let _lead = HandOn(Some(&this));
            let mut writer = this.writer.lock().unwrap_or_else(|p| p.into_inner());
            this.run(&mut writer, mine)
        })
        .await
        .map_err(|e| StoreError::internal("a blocking task failed", e))?
    }

    /// Runs `mine` and the debits waiting and answers them, holding the
    /// writing connection (`writer`); the caller hands the lead on.
    fn run(self: &Arc<Self>, writer: &mut Connection, mine: Request) -> Answer {
        let others: Vec<Waiting> = {
            let mut queue = self.queue();
            let take = queue.waiting.len().min(MAX_BATCH - 1);
            queue.waiting.drain(..take).collect()
        };
        let requests: Vec<&Request> = std::iter::once(&mine)
            .chain(others.iter().map(|w| &w.request))
            .collect();
        let cache = self.cache.as_deref();
        let applied = match &self.meter {
            Some(meter) => {
                let mut meter = meter.lock().unwrap_or_else(|p| p.into_inner());
                meter::debit_all(&mut meter, &requests, Commit::Normal, cache)
            }
            None => meter::debit_all(writer, &requests, Commit::Normal, cache),
        };
        let applied = match applied {
            Ok(applied) => applied,
            Err(e) => {
                for waiting in others {
                    let _ = waiting.reply.send(Reply::Done(Err(shared(&e))));
                }
                return Err(e);
            }
        };
        if applied.header.as_ref().map(wal_frames) >= Some(CHECKPOINT_FRAMES) {
            self.checkpoint();
        }
        let mut answers = applied.answers.into_iter();
        let answer = answers.next().expect("an answer per request");
        for (waiting, answer) in others.into_iter().zip(answers) {
            // A caller that is gone leaves its debit applied, as a request
            // cancelled after its commit does.
            let _ = waiting.reply.send(Reply::Done(answer));
        }
        answer
    }

    /// Gives the lead to the first waiting debit whose caller is still
    /// there, or ends it.
    fn hand_on(&self) {
        let mut queue = self.queue();
        while let Some(next) = queue.waiting.pop_front() {
            // A caller that is gone takes its request with it, undone.
            if next.reply.send(Reply::Lead(next.request)).is_ok() {
                return;
            }
        }
        queue.leading = false;
    }

    /// Starts a checkpoint on the blocking pool unless one is running.
    fn checkpoint(self: &Arc<Self>) {
        if self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let writer = this.writer.lock().unwrap_or_else(|p| p.into_inner());
            // PASSIVE: never waits for readers; what they still use is
            // copied by a later one.
            if let Err(e) = writer.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "a checkpoint of the WAL failed");
            }
            this.checkpointing.store(false, Ordering::Release);
        });
    }
}

/// Hands the lead on when dropped, unless disarmed.
struct HandOn<'a>(Option<&'a Batcher>);

impl HandOn<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for HandOn<'_> {
    fn drop(&mut self) {
        if let Some(batcher) = self.0 {
            batcher.hand_on();
        }
    }
}

/// A waiting debit. Dropped with the lead in its channel (its caller went
/// away just as the lead came), it hands the lead on.
struct Follower<'a> {
    batcher: &'a Batcher,
    receiver: Option<oneshot::Receiver<Reply>>,
}

impl Follower<'_> {
    async fn reply(&mut self) -> Reply {
        let receiver = self.receiver.as_mut().expect("waited on once");
        let reply = receiver.await;
        self.receiver = None;
        // The leader answers every debit it takes, a panic aside.
        reply.unwrap_or_else(|_| {
            Reply::Done(Err(StoreError::Internal {
                context: "a batch of debits failed".into(),
                source: None,
            }))
        })
    }
}

impl Drop for Follower<'_> {
    fn drop(&mut self) {
        if let Some(mut receiver) = self.receiver.take() {
            receiver.close();
            if let Ok(Reply::Lead(_)) = receiver.try_recv() {
                self.batcher.hand_on();
            }
        }
    }
}

/// The failure of a batch, for each debit in it but the leader's (which
/// keeps the cause).
fn shared(e: &StoreError) -> StoreError {
    let context = format!("a batch of debits failed: {e}");
    match e {
        StoreError::Unavailable { .. } => StoreError::Unavailable {
            context,
            source: None,
        },
        _ => StoreError::Internal {
            context,
            source: None,
        },
    }
}
