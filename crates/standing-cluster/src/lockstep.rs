//! The loop the full solve and the pushes share: one timely operator in a feedback loop whose
//! timestamp is the round. Every worker sends every worker (itself included) at least one word
//! a round. When the frontier says a round's words are all in, the worker's step takes them
//! and returns the next round's words, or stops. The loop stops on the same round on every
//! worker, because each takes the same decision from the same words.
//!
//! A worker that hears nothing for the timeout drops its dataflow and names the workers whose
//! words for the round under way it has not had.

use crate::ClusterError;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};
use timely::ExchangeData;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, ConnectLoop, Feedback};
use timely::worker::Worker;

/// A word of the loop: for whom, and from whom.
pub(crate) trait Addressed {
    fn to(&self) -> u32;
    fn from(&self) -> u32;
}

/// What a round's step decided.
pub(crate) type Step<W> = Result<Option<Vec<W>>, ClusterError>;

/// The loop's state besides the caller's.
struct Driver<S> {
    state: S,
    rounds: u32,
    done: bool,
    failure: Option<ClusterError>,
    /// The workers heard from for the round under way, and when anything last arrived.
    heard: Vec<bool>,
    last_heard: Instant,
}

/// Runs the loop named `name` on `worker` over `state`: `start` gives the first round's words,
/// `step` each next round's from the words of the last (`Ok(None)` stops). Returns the state
/// when every worker has stopped. `names` are the workers' names, for the watchdog's error.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run<W, S>(
    worker: &mut Worker,
    name: &str,
    names: &[String],
    state: S,
    timeout: Duration,
    start: impl FnOnce(&mut S) -> Vec<W> + 'static,
    mut step: impl FnMut(&mut S, Vec<W>) -> Step<W> + 'static,
) -> Result<S, ClusterError>
where
    W: ExchangeData + Addressed,
    S: 'static,
{
    let (me, peers) = (worker.index() as u32, worker.peers() as u32);
    let driver = Rc::new(RefCell::new(Driver {
        state,
        rounds: 0,
        done: false,
        failure: None,
        heard: vec![false; peers as usize],
        last_heard: Instant::now(),
    }));
    let shared = Rc::clone(&driver);
    let name = name.to_owned();
    worker.dataflow::<u32, _, _>(move |scope| {
        let (handle, words) = scope.feedback::<Vec<W>>(1);
        words
            .unary_frontier::<timely::container::CapacityContainerBuilder<Vec<W>>, _, _, _>(
                Exchange::new(|word: &W| u64::from(word.to())),
                &name,
                move |capability, _info| {
                    let mut first = Some((capability, start));
                    let mut stash: BTreeMap<u32, (Capability<u32>, Vec<W>)> = BTreeMap::new();
                    move |(input, frontier), output| {
                        let mut driver = shared.borrow_mut();
                        let driver = &mut *driver;
                        if let Some((capability, start)) = first.take() {
                            let words = start(&mut driver.state);
                            output.session(&capability).give_iterator(words.into_iter());
                        }
                        input.for_each_stamp(|capability, data| {
                            if let Some(capability) = capability.retain_least(output.output_index())
                            {
                                let time = *capability.time();
                                let entry = stash
                                    .entry(time)
                                    .or_insert_with(|| (capability, Vec::new()));
                                for words in data {
                                    entry.1.append(words);
                                }
                                driver.last_heard = Instant::now();
                            }
                        });
                        while let Some((&time, _)) = stash.first_key_value() {
                            if frontier.frontier().less_equal(&time) || driver.done {
                                break;
                            }
                            let (_, (capability, words)) =
                                stash.pop_first().expect("a first entry");
                            driver.rounds += 1;
                            match step(&mut driver.state, words) {
                                Ok(Some(next)) => {
                                    output.session(&capability).give_iterator(next.into_iter());
                                }
                                Ok(None) => driver.done = true,
                                Err(error) => {
                                    driver.failure = Some(error);
                                    driver.done = true;
                                }
                            }
                        }
                        // Who has been heard from for the next round due.
                        driver.heard.fill(false);
                        if let Some((_, (_, words))) = stash.first_key_value() {
                            for word in words {
                                driver.heard[word.from() as usize] = true;
                            }
                        }
                    }
                },
            )
            .connect_loop(handle);
    });
    let ids = worker.installed_dataflows();
    loop {
        worker.step_or_park(Some(Duration::from_millis(50)));
        let mut driver = driver.borrow_mut();
        if driver.done {
            break;
        }
        if driver.last_heard.elapsed() > timeout {
            let silent = (0..peers).filter(|&w| w != me && !driver.heard[w as usize]);
            driver.failure = Some(ClusterError::Silent {
                peers: silent.map(|w| names[w as usize].clone()).collect(),
                waited: timeout,
                sweep: driver.rounds,
            });
            break;
        }
    }
    let failed = driver.borrow_mut().failure.take();
    if let Some(error) = failed {
        for id in ids {
            worker.drop_dataflow(id);
        }
        return Err(error);
    }
    // The others stop at the same round; let the dataflow wind down.
    while worker.has_dataflows() {
        worker.step_or_park(Some(Duration::from_millis(50)));
    }
    let driver = Rc::try_unwrap(driver)
        .map_err(|_| ClusterError::Internal("the dataflow kept the worker's state".into()))?
        .into_inner();
    Ok(driver.state)
}
