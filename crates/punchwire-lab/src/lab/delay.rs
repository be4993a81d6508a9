//! A fixed one-way delay on every packet the simulated internet forwards, for measuring
//! round trips against a known path RTT.
//!
//! The kernels this lab runs on may lack netem (`tc qdisc ... netem`), but have
//! NFQUEUE: a rule in `inet`'s FORWARD chain queues each forwarded packet to a thread
//! of this process, which holds it for the delay and then accepts it. The delay is the
//! same for every packet, so releasing in arrival order keeps the order on the wire.
//! The rule has `--queue-bypass`: if the thread is gone, packets pass undelayed
//! instead of being dropped.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nfq::{Message, Queue, Verdict};

use super::{enter_namespace, Lab};
use crate::error::{LabError, Result};
use crate::topology::Node;

/// The queue `inet` hands its forwarded packets to. Queue numbers are per network
/// namespace, so concurrent labs do not share it.
const QUEUE_NUM: u16 = 7;
/// How often the thread looks for newly queued packets: each packet waits up to this
/// much longer than the delay (the queue socket cannot be polled through `nfq`).
const POLL: Duration = Duration::from_micros(200);

/// The delay [`Lab::delay_internet`] added. Dropping it removes the rule and lets every
/// held packet go; [`Delay::finish`] does the same and says what went wrong.
#[must_use = "the delay ends when this is dropped"]
pub struct Delay<'lab> {
    lab: &'lab Lab,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Result<()>>>,
    /// Whether `inet` has the rule, which ending the delay then deletes.
    rule_added: bool,
}

impl Lab {
    /// Delays every packet `inet` forwards by `one_way`: a packet between alice and bob
    /// crosses `inet` once per direction (an RTT of 2 × `one_way`), one relayed through
    /// the registry twice (4 × `one_way`). Traffic within a NAT box's LAN is not
    /// delayed. Until the returned [`Delay`] is dropped.
    pub fn delay_internet(&self, one_way: Duration) -> Result<Delay<'_>> {
        let namespace = self.namespace_file(Node::Inet);
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let stop = Arc::clone(&stop);
            thread::Builder::new()
                .name("lab-delay".into())
                .spawn(move || {
                    let queue = match open_queue(&namespace) {
                        Ok(queue) => {
                            let _ = ready_tx.send(Ok(()));
                            queue
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    hold_and_release(queue, one_way, &stop)
                })
                .map_err(|e| LabError::io("starting the delay thread", e))?
        };
        let mut delay = Delay {
            lab: self,
            stop,
            thread: Some(thread),
            rule_added: false,
        };
        ready_rx
            .recv()
            .map_err(|_| LabError::Usage("the delay thread ended before it was ready".into()))??;
        // Only once the queue is bound: with the rule first, packets would pass undelayed.
        self.exec(Node::Inet, &as_args(&rule("-I")))?;
        delay.rule_added = true;
        Ok(delay)
    }
}

impl Delay<'_> {
    /// Ends the delay: removes the rule, releases the packets still held, and reports
    /// a failure of either, or of the thread while it ran.
    pub fn finish(mut self) -> Result<()> {
        self.end()
    }

    /// Runs once: later calls find no rule and no thread.
    fn end(&mut self) -> Result<()> {
        // The rule goes first, so that nothing is queued to a thread that has left.
        let removed = if std::mem::take(&mut self.rule_added) {
            self.lab.exec(Node::Inet, &as_args(&rule("-D"))).map(|_| ())
        } else {
            Ok(())
        };
        self.stop.store(true, Ordering::SeqCst);
        let ran = match self.thread.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(LabError::Usage("the delay thread panicked".into())),
            None => Ok(()),
        };
        removed.and(ran)
    }
}

impl Drop for Delay<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.end() {
            eprintln!("ending the lab's internet delay: {e}");
        }
    }
}

/// The iptables command that adds (`-I`) or deletes (`-D`) the queueing rule.
fn rule(action: &str) -> Vec<String> {
    let num = QUEUE_NUM.to_string();
    let args = [
        "iptables",
        action,
        "FORWARD",
        "-j",
        "NFQUEUE",
        "--queue-num",
        &num,
    ];
    let mut args: Vec<String> = args.into_iter().map(str::to_owned).collect();
    args.push("--queue-bypass".into());
    args
}

fn as_args(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// The queue socket, made inside the namespace at `path` (a netlink socket belongs to
/// the namespace it was made in) and bound to [`QUEUE_NUM`], without packet contents.
fn open_queue(namespace: &Path) -> Result<Queue> {
    enter_namespace(namespace)?;
    let mut queue = Queue::open().map_err(|e| LabError::io("opening a netfilter queue", e))?;
    queue
        .bind(QUEUE_NUM)
        .map_err(|e| LabError::io(format!("binding netfilter queue {QUEUE_NUM}"), e))?;
    queue
        .set_copy_range(QUEUE_NUM, 0)
        .map_err(|e| LabError::io("asking the queue for metadata only", e))?;
    queue.set_nonblocking(true);
    Ok(queue)
}

/// Until `stop`: takes every packet queued, and accepts each `delay` after it came.
/// Then accepts those still held, as closing the socket would drop them.
fn hold_and_release(mut queue: Queue, delay: Duration, stop: &AtomicBool) -> Result<()> {
    let mut held = Held::new(delay);
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(());
        }
        if let Err(e) = take_queued(&mut queue, &mut held) {
            break Err(e);
        }
        let now = Instant::now();
        if let Err(e) = release(&mut queue, held.pop_due(now)) {
            break Err(e);
        }
        let until_due = held.next_due().map_or(POLL, |due| due - now);
        thread::sleep(until_due.min(POLL));
    };
    let rest = release(&mut queue, held.drain());
    result.and(rest)
}

fn take_queued(queue: &mut Queue, held: &mut Held<Message>) -> Result<()> {
    loop {
        match queue.recv() {
            Ok(message) => held.push(Instant::now(), message),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(LabError::io("reading the netfilter queue", e)),
        }
    }
}

fn release(queue: &mut Queue, messages: impl IntoIterator<Item = Message>) -> Result<()> {
    for mut message in messages {
        message.set_verdict(Verdict::Accept);
        queue
            .verdict(message)
            .map_err(|e| LabError::io("accepting a delayed packet", e))?;
    }
    Ok(())
}

/// Packets held in arrival order, each until `delay` after it came.
struct Held<T> {
    delay: Duration,
    line: VecDeque<(Instant, T)>,
}

impl<T> Held<T> {
    fn new(delay: Duration) -> Self {
        Self {
            delay,
            line: VecDeque::new(),
        }
    }

    fn push(&mut self, arrived: Instant, item: T) {
        self.line.push_back((arrived + self.delay, item));
    }

    /// When the first held item is due, if any is held.
    fn next_due(&self) -> Option<Instant> {
        self.line.front().map(|(due, _)| *due)
    }

    /// The items due at `now`, oldest first. A constant delay makes the line sorted by
    /// due time, so the first one not due ends the search.
    fn pop_due(&mut self, now: Instant) -> Vec<T> {
        let ready = self.line.partition_point(|(due, _)| *due <= now);
        self.line.drain(..ready).map(|(_, item)| item).collect()
    }

    fn drain(&mut self) -> Vec<T> {
        self.line.drain(..).map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: Duration = Duration::from_millis(20);

    #[test]
    fn nothing_is_due_before_the_delay_has_passed() {
        let t0 = Instant::now();
        let mut held = Held::new(D);
        held.push(t0, 1);
        assert!(held.pop_due(t0 + D - Duration::from_micros(1)).is_empty());
        assert_eq!(held.next_due(), Some(t0 + D));
        assert_eq!(held.pop_due(t0 + D), vec![1]);
        assert_eq!(held.next_due(), None);
    }

    #[test]
    fn items_leave_in_the_order_they_came_each_at_its_own_time() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut held = Held::new(D);
        for (i, at) in [0, 1, 5, 30].into_iter().enumerate() {
            held.push(t0 + ms(at), i);
        }
        assert_eq!(held.pop_due(t0 + ms(21)), vec![0, 1]);
        assert_eq!(held.next_due(), Some(t0 + ms(25)));
        assert_eq!(held.pop_due(t0 + ms(40)), vec![2]);
        assert_eq!(held.drain(), vec![3]);
        assert!(held.pop_due(t0 + ms(100)).is_empty());
    }

    #[test]
    fn the_rule_queues_to_the_queue_the_thread_binds_and_passes_when_it_is_gone() {
        for action in ["-I", "-D"] {
            let args = rule(action);
            assert_eq!(args[..3], ["iptables", action, "FORWARD"]);
            let num = args.iter().position(|a| *a == "--queue-num").unwrap() + 1;
            assert_eq!(args[num], QUEUE_NUM.to_string());
            assert!(args.iter().any(|a| a == "--queue-bypass"));
        }
    }
}
