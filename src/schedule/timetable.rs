//! One task keeps every source's timetable: a source waiting for its next poll is an entry
//! in a heap ordered by due time, not a task of its own, so 100,000 sleeping sources cost
//! little more than their settings and last state. Each due poll runs as a task of its own
//! while it lasts, so a slow source never delays another (unless a thousand are slow at
//! once: see `MAX_TURNS_UNDER_WAY`).

use super::{jitter, Kept, Poller};
use crate::config::SourceConfig;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info_span, Instrument};

/// At most this many first polls a second after a start: 100,000 sources are not all asked
/// for within seconds, which neither their hosts nor this daemon would keep up with.
const START_RATE: f64 = 500.0;
/// Polls under way at once, at most. A steady 333 polls a second (100,000 sources every five
/// minutes) has a few dozen under way; more than this means the store or the network is
/// behind, and polls that start anyway only wait in memory with the pages they read (at
/// 100,000 sources the first full reads piled up to 600 MB).
const MAX_TURNS_UNDER_WAY: usize = 1024;
/// A few sources start within this, so a new installation sees its first posts at once.
const QUICK_START: Duration = Duration::from_secs(5);
/// A due poll waits up to this long for others to fall due, and they all start at one
/// wake-up: at 10,000 sources a minute that is forty polls per wake instead of one, and
/// waking (the kernel's task switches, the runtime's timer) was most of a quiet poll's CPU.
/// Against intervals of a minute and ±10 % jitter, a quarter second is nothing.
const GATHER: Duration = Duration::from_millis(250);

/// Over how long the first polls of `sources` sources are spread (half of each source's
/// own interval caps it).
fn start_spread(sources: usize) -> Duration {
    QUICK_START.max(Duration::from_secs_f64(sources as f64 / START_RATE))
}

/// A source added while the daemon runs; it stops being polled once `stop` is cancelled.
struct NewSource {
    source: SourceConfig,
    interval: Duration,
    stop: CancellationToken,
}

/// Adds sources to a running timetable (crate::watch's generated sources).
#[derive(Clone)]
pub struct SourceAdder(mpsc::UnboundedSender<NewSource>);

impl SourceAdder {
    pub fn add(&self, source: SourceConfig, interval: Duration, stop: CancellationToken) {
        // Refused only once the timetable stopped, at shutdown, when nothing starts anyway.
        let _ = self.0.send(NewSource {
            source,
            interval,
            stop,
        });
    }
}

struct Slot {
    source: Arc<SourceConfig>,
    interval: Duration,
    /// Empty while its poll runs (the poll has it).
    kept: Kept,
    stop: CancellationToken,
}

/// What a finished turn hands back: what it kept of the source and the wait before its
/// next turn.
type TurnEnd = (Kept, Duration);

pub(super) struct Timetable {
    poller: Arc<Poller>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    due: BinaryHeap<Reverse<(Instant, usize)>>,
    turns: JoinSet<TurnEnd>,
    /// The slot of each running turn.
    running: HashMap<tokio::task::Id, usize>,
    /// Item-page readers of the sources that have them (crate::schedule::Poller::follow_items).
    followers: JoinSet<()>,
    added: mpsc::UnboundedReceiver<NewSource>,
    /// Turns to end before the code is released once more (crate::resident): about the
    /// configured sources' first round, whose full reads ran code that quiet polls do not.
    first_round_left: usize,
}

impl Timetable {
    /// An empty timetable, and its handle for adding sources while it runs.
    pub(super) fn new(poller: Arc<Poller>) -> (Timetable, SourceAdder) {
        let (sender, added) = mpsc::unbounded_channel();
        let timetable = Timetable {
            poller,
            slots: Vec::new(),
            free: Vec::new(),
            due: BinaryHeap::new(),
            turns: JoinSet::new(),
            running: HashMap::new(),
            followers: JoinSet::new(),
            added,
            first_round_left: 0,
        };
        (timetable, SourceAdder(sender))
    }

    /// Polls `configured` and whatever is added, each on its interval, until `shutdown`;
    /// then waits for the polls under way, which see the shutdown themselves.
    pub(super) async fn run(
        mut self,
        configured: Vec<(SourceConfig, Duration)>,
        shutdown: CancellationToken,
    ) {
        let spread = start_spread(configured.len());
        // Sized once: grown by doubling, the tables of 100,000 sources would hold room for
        // 131,072 (and briefly both the old and the new table).
        self.slots.reserve_exact(configured.len());
        self.due.reserve_exact(configured.len());
        self.poller.book.expect_sources(configured.len());
        self.first_round_left = configured.len();
        for (source, interval) in configured {
            self.add(source, interval, shutdown.clone(), spread);
        }
        // One timer, moved only when the earliest due poll changes: a turn ending (many a
        // second) then costs no timer of its own.
        let wake = tokio::time::sleep_until(Instant::now());
        tokio::pin!(wake);
        loop {
            let next = self.due.peek().map(|Reverse((at, _))| *at + GATHER);
            if let Some(next) = next.filter(|&next| next != wake.deadline()) {
                wake.as_mut().reset(next);
            }
            tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                Some(new) = self.added.recv() => {
                    self.add(new.source, new.interval, new.stop, QUICK_START);
                }
                Some(ended) = self.turns.join_next_with_id() => self.turn_ended(ended),
                _ = &mut wake, if next.is_some() && self.has_room() => {
                    self.start_due_turns();
                }
            }
        }
        while self.turns.join_next().await.is_some() {}
        while self.followers.join_next().await.is_some() {}
    }

    fn add(
        &mut self,
        source: SourceConfig,
        interval: Duration,
        stop: CancellationToken,
        spread: Duration,
    ) {
        let source = Arc::new(source);
        if source.item_page.is_some() {
            let (poller, source, stop) = (self.poller.clone(), source.clone(), stop.clone());
            let span = info_span!("source", source = %source.name);
            self.followers.spawn(
                async move {
                    if let Some(item_page) = source.item_page.as_deref() {
                        poller.follow_items(&source, item_page, stop).await;
                    }
                }
                .instrument(span),
            );
        }
        let slot = Slot {
            source,
            interval,
            kept: Kept::default(),
            stop,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        // Spread the first polls so that a start does not hit every site at once.
        let first = jitter(spread.min(interval.mul_f64(0.5)));
        self.due.push(Reverse((Instant::now() + first, index)));
    }

    /// Whether another turn may start: when the store commits more slowly than sources
    /// fall due (the first full reads of many sources), turns wait here, holding nothing,
    /// instead of piling up in memory with their pages read.
    fn has_room(&self) -> bool {
        self.turns.len() < MAX_TURNS_UNDER_WAY
    }

    fn start_due_turns(&mut self) {
        let now = Instant::now();
        while let Some(&Reverse((at, index))) = self.due.peek() {
            if at > now || !self.has_room() {
                break;
            }
            self.due.pop();
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            if slot.stop.is_cancelled() {
                self.remove(index);
                continue;
            }
            let (poller, source, interval, stop) = (
                self.poller.clone(),
                slot.source.clone(),
                slot.interval,
                slot.stop.clone(),
            );
            let mut kept = std::mem::take(&mut slot.kept);
            let span = info_span!("source", source = %source.name);
            let turn = self.turns.spawn(
                async move {
                    poller.beat();
                    let wait = poller.turn(&source, interval, &mut kept, &stop).await;
                    (kept, wait)
                }
                .instrument(span),
            );
            self.running.insert(turn.id(), index);
        }
    }

    fn turn_ended(&mut self, ended: Result<(tokio::task::Id, TurnEnd), tokio::task::JoinError>) {
        if self.first_round_left > 0 {
            self.first_round_left -= 1;
            if self.first_round_left == 0 {
                let released = crate::resident::release_start_code();
                debug!(
                    kib = released / 1024,
                    "first round of polls over; its code unmapped"
                );
            }
        }
        let (id, kept, wait) = match ended {
            Ok((id, (kept, wait))) => (id, kept, Some(wait)),
            Err(e) => {
                // A bug in one poll: the source is read again, and tried after its interval.
                error!(error = %e, "a poll ended abnormally");
                (e.id(), Kept::default(), None)
            }
        };
        let Some(index) = self.running.remove(&id) else {
            return;
        };
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return;
        };
        if slot.stop.is_cancelled() {
            self.remove(index);
            return;
        }
        slot.kept = kept;
        let wait = wait.unwrap_or(slot.interval);
        self.due.push(Reverse((Instant::now() + wait, index)));
    }

    fn remove(&mut self, index: usize) {
        if let Some(slot) = self.slots.get_mut(index) {
            *slot = None;
            self.free.push(index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_start_is_spread_at_a_bounded_rate() {
        assert_eq!(start_spread(1), QUICK_START);
        assert_eq!(start_spread(1_000), QUICK_START);
        assert_eq!(start_spread(100_000), Duration::from_secs(200));
    }
}
