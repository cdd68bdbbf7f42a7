//! The simulated world: one instance, one bucket, numbered steps, and a
//! schedule of events and kills placed before any step.

use super::instance::SimInstance;
use super::store::{MemStore, Step};
use crate::error::Failure;
use crate::fetch::{ChunkSource, FetchError, LogStream, Span};
use crate::instance::{Instance, InstanceId, ResourceId};
use crate::list::LogFile;
use crate::source::LogSource;
use crate::BoxFuture;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Something that happens to the instance between two calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `n` whole records on a stripe's growing file (MariaDB: stripe 0).
    Append {
        stripe: u8,
        n: usize,
    },
    /// Half of a record: the file ends inside a line until `Finish`.
    AppendHalf {
        stripe: u8,
    },
    /// The rest of the line a previous `AppendHalf` began.
    Finish {
        stripe: u8,
    },
    Rotate {
        stripe: u8,
    },
    /// The stripe rotates and its new file begins with the first `lines`
    /// lines of the one before, fewer than it has (a replayed session, a
    /// restart that resets connection and query ids): two files with one
    /// first line.
    Echo {
        stripe: u8,
        lines: usize,
    },
    /// The instance is deleted and recreated under the same identifier.
    Replace,
    /// Writer and reader swap (metadata only).
    Failover,
}

/// The state every handle shares.
pub struct WorldState {
    pub instance: SimInstance,
    /// Steps taken by all runs together.
    pub steps: u64,
    /// Events to apply just before global step `k` is answered.
    pub events: BTreeMap<u64, Vec<Event>>,
    /// Per run: steps taken, and the step at which it is killed.
    pub run_steps: BTreeMap<usize, u64>,
    pub kills: BTreeMap<usize, u64>,
    /// Halves of lines still to be finished, per stripe.
    pending_half: BTreeMap<u8, Vec<u8>>,
    /// What each step was, for a readable failure.
    pub trace: Vec<String>,
    /// Bytes per chunk of a simulated download.
    pub chunk: usize,
    /// Whether a download honours a range read (else it sends the whole
    /// file, as an endpoint that ignores `Range` does).
    pub ranges: bool,
    /// Downloads that began past the file's start (range reads honoured).
    pub ranged_opens: u64,
    /// With overlapping runs, a seeded generator that makes each step yield
    /// a few more times, so the runs interleave in other orders than
    /// strict turns (`None`: strict turns).
    pub interleave: Option<u64>,
}

impl WorldState {
    pub fn apply(&mut self, event: &Event) {
        let i = &mut self.instance;
        match *event {
            Event::Append { stripe, n } => {
                for _ in 0..n {
                    i.append_record(stripe);
                }
            }
            Event::AppendHalf { stripe } => {
                if self.pending_half.contains_key(&stripe) {
                    return;
                }
                let r = i.record();
                let (a, b) = r.split_at(r.len() / 2);
                i.append(stripe, a);
                self.pending_half.insert(stripe, b.to_vec());
            }
            Event::Finish { stripe } => {
                if let Some(rest) = self.pending_half.remove(&stripe) {
                    i.append(stripe, &rest);
                }
            }
            Event::Rotate { stripe } => {
                // The plugin only rotates between records.
                if let Some(rest) = self.pending_half.remove(&stripe) {
                    i.append(stripe, &rest);
                }
                i.rotate(stripe);
            }
            Event::Echo { stripe, lines } => {
                if let Some(rest) = self.pending_half.remove(&stripe) {
                    i.append(stripe, &rest);
                }
                i.rotate(stripe);
                i.echo(stripe, lines);
            }
            Event::Replace => {
                self.pending_half.clear();
                i.replace();
            }
            Event::Failover => {
                i.role = match i.role {
                    crate::instance::Role::Writer => crate::instance::Role::Reader,
                    _ => crate::instance::Role::Writer,
                }
            }
        }
    }
}

pub struct World {
    pub state: Mutex<WorldState>,
    pub store: MemStore,
}

impl World {
    pub fn new(instance: SimInstance) -> Arc<World> {
        Arc::new(World {
            state: Mutex::new(WorldState {
                instance,
                steps: 0,
                events: BTreeMap::new(),
                run_steps: BTreeMap::new(),
                kills: BTreeMap::new(),
                pending_half: BTreeMap::new(),
                trace: Vec::new(),
                chunk: 61,
                ranges: true,
                ranged_opens: 0,
                interleave: None,
            }),
            store: MemStore::new(),
        })
    }

    /// Applies an event now (between runs).
    pub fn apply(&self, event: Event) {
        let mut st = self.state.lock().unwrap();
        st.trace.push(format!("  event {event:?} (between runs)"));
        st.apply(&event);
    }

    /// What discovery would report now.
    pub fn instance(&self) -> Instance {
        self.state.lock().unwrap().instance.instance()
    }

    /// The I/O one run sees, and the signal that it was killed.
    pub fn run(self: &Arc<World>, run: usize) -> (Arc<SimRun>, Arc<dyn crate::store::ObjectStore>) {
        let handle = Arc::new(SimRun { world: self.clone(), run, killed: Arc::new(Notify::new()) });
        let store = Arc::new(self.store.with_step(handle.clone()));
        (handle, store)
    }
}

/// One run's view of the world: its `LogSource`, and the `Step` its store
/// takes before each call.
pub struct SimRun {
    pub world: Arc<World>,
    pub run: usize,
    /// Notified when the run reaches its kill step (it then never returns).
    pub killed: Arc<Notify>,
}

impl SimRun {
    async fn step_now(&self, what: String) {
        // Yield first: runs on one thread interleave at every call.
        tokio::task::yield_now().await;
        let extra = {
            let mut st = self.world.state.lock().unwrap();
            st.interleave.as_mut().map_or(0, |s| {
                *s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (*s >> 62) as usize
            })
        };
        for _ in 0..extra {
            tokio::task::yield_now().await;
        }
        let kill = {
            let mut st = self.world.state.lock().unwrap();
            st.steps += 1;
            let k = st.steps;
            if let Some(events) = st.events.remove(&k) {
                for e in &events {
                    st.trace.push(format!("  event {e:?} (before step {k})"));
                    st.apply(e);
                }
            }
            let mine = st.run_steps.entry(self.run).or_insert(0);
            *mine += 1;
            let mine = *mine;
            st.trace.push(format!("{k} run {} #{mine}: {what}", self.run));
            let kill = st.kills.get(&self.run) == Some(&mine);
            // A write of this instance's checkpoint reaching the store (the
            // failing decorator stops injected failures before they get
            // here; a kill here stops it too; a run still holding a replaced
            // instance writes that one's): from then on the worker has a
            // record to notice a loss by.
            let checkpoint = format!("/_state/{}.json", st.instance.resource_id);
            if !kill && what.starts_with("swap") && what.ends_with(&checkpoint) {
                st.instance.checkpoint_writes += 1;
            }
            kill
        };
        if kill {
            self.killed.notify_one();
            std::future::pending::<()>().await;
        }
    }
}

impl Step for SimRun {
    fn step<'a>(&'a self, what: String) -> BoxFuture<'a, ()> {
        Box::pin(self.step_now(what))
    }
}

impl LogSource for SimRun {
    fn list<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<Vec<LogFile>, Failure>> {
        Box::pin(async move {
            self.step_now("DescribeDBLogFiles".into()).await;
            let st = self.world.state.lock().unwrap();
            if st.instance.id != instance.id.0 {
                return Err(Failure::data_loss(format!("no instance {}", instance.id)));
            }
            Ok(st.instance.listing())
        })
    }

    fn open<'a>(
        &'a self,
        instance: &'a InstanceId,
        file: &'a str,
        span: Span,
    ) -> BoxFuture<'a, Result<LogStream, FetchError>> {
        Box::pin(async move {
            self.step_now(format!("open {file} {span:?}")).await;
            let mut st = self.world.state.lock().unwrap();
            if st.instance.id != instance.0 {
                return Err(FetchError::Gone);
            }
            let Some(found) = st.instance.at_name(file) else { return Err(FetchError::Gone) };
            // A range past the file's end is a 416, then a whole read.
            let start = match span {
                Span::From(start) if st.ranges && start <= found.bytes.len() as u64 => start,
                _ => 0,
            };
            st.ranged_opens += u64::from(start > 0);
            let body = SimBody {
                run: SimRun { world: self.world.clone(), run: self.run, killed: self.killed.clone() },
                name: file.to_string(),
                offset: start as usize,
            };
            Ok(LogStream::new(Box::new(body), file, Duration::from_secs(3600)).starting_at(start))
        })
    }

    fn resource_id<'a>(&'a self, instance: &'a InstanceId) -> BoxFuture<'a, Result<Option<ResourceId>, Failure>> {
        Box::pin(async move {
            self.step_now("DescribeDBInstances".into()).await;
            let st = self.world.state.lock().unwrap();
            Ok((st.instance.id == instance.0).then(|| ResourceId(st.instance.resource_id.clone())))
        })
    }
}

/// A download in progress. Each chunk is read by *name* from whatever file
/// holds that name now: the complete-file download is not documented to
/// read from an open handle, so a rotation mid-read splices two files. The
/// pipeline must never ship such bytes.
struct SimBody {
    run: SimRun,
    name: String,
    offset: usize,
}

impl ChunkSource for SimBody {
    fn next_chunk(&mut self) -> BoxFuture<'_, Result<Option<Bytes>, String>> {
        Box::pin(async move {
            self.run.step_now(format!("read {} @{}", self.name, self.offset)).await;
            let st = self.run.world.state.lock().unwrap();
            let Some(file) = st.instance.at_name(&self.name) else {
                return Err("connection reset: the file is gone".into());
            };
            if self.offset >= file.bytes.len() {
                return Ok(None);
            }
            let end = (self.offset + st.chunk).min(file.bytes.len());
            let chunk = Bytes::copy_from_slice(&file.bytes[self.offset..end]);
            self.offset = end;
            Ok(Some(chunk))
        })
    }
}
