//! Fair sharing of heavy work between organizations.
//!
//! Rate and concurrency limits count requests, not their cost: a page of 1,000 users, a
//! substring filter over every user, a group listed with its members or a Bulk request costs a
//! hundred times a point read, so one organization sending them within its limits could still
//! take every CPU of the edge and the core from the rest. So a heavy request (see [`is_heavy`])
//! also needs one of a few heavy-work slots, about half the CPUs by default: the other half stays
//! free for everyone's cheap requests, which never wait here. When heavy requests queue, a free
//! slot goes to the waiting organization holding the fewest slots (the longest waiting among
//! equals), so an organization with a burst of heavy requests takes turns with the others
//! instead of starving them. A waiting request keeps its organization's concurrency slot, so the
//! queue is bounded by those limits, and the request timeout bounds the wait (503, nothing done).
//!
//! Hand-written rather than from a crate: tokio's and tower's semaphores are first come, first
//! served, and no maintained crate offers a semaphore whose grant order is by holder.

use axum::http::{Method, Request};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A page larger than this (or the default page, when the request names none) is heavy.
const LIGHT_PAGE: i64 = 100;

/// Whether a SCIM request (path relative to the base path) is heavy work: Bulk, a search, or a
/// list asking for more than a page of 100, for members or groups, or filtering by substring.
/// Point reads and writes and the lookups identity providers send (`userName eq`, a page of
/// 100) are light.
pub(crate) fn is_heavy<B>(request: &Request<B>) -> bool {
    let path = request.uri().path().trim_end_matches('/');
    if path.ends_with("/Bulk") || path.ends_with(".search") {
        return true;
    }
    let collection = path.ends_with("/Users") || path.ends_with("/Groups");
    if request.method() != Method::GET || !collection {
        return false;
    }
    let Some(query) = request.uri().query() else {
        return false;
    };
    // on every list request: borrowed pairs, and only the values that matter lower-cased
    url::form_urlencoded::parse(query.as_bytes()).any(|(key, value)| {
        if key.eq_ignore_ascii_case("count") {
            value.trim().parse::<i64>().map_or(true, |n| n > LIGHT_PAGE)
        } else if key.eq_ignore_ascii_case("attributes") {
            let value = value.to_ascii_lowercase();
            value.contains("members") || value.contains("groups")
        } else if key.eq_ignore_ascii_case("filter") {
            let value = value.to_ascii_lowercase();
            [" co ", " ew ", " sw "]
                .iter()
                .any(|operator| value.contains(operator))
        } else {
            false
        }
    })
}

tokio::task_local! {
    /// Set while the request being served holds a heavy-work slot: work inside it that would
    /// take one (a large group's members) must not wait for a second, which with one slot would
    /// never come.
    static HOLDING: ();
}

/// Runs `request` marked as holding a heavy-work slot when `holding`.
pub(crate) async fn holding<F: std::future::Future>(holding: bool, request: F) -> F::Output {
    if holding {
        HOLDING.scope((), request).await
    } else {
        request.await
    }
}

/// Whether the request being served already holds a heavy-work slot.
pub(crate) fn holds_slot() -> bool {
    HOLDING.try_with(|_| ()).is_ok()
}

/// The heavy-work slots, shared fairly between organizations. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct FairGate {
    inner: Arc<Mutex<GateState>>,
}

#[derive(Debug)]
struct GateState {
    free: usize,
    held: HashMap<String, usize>,
    waiting: VecDeque<(String, oneshot::Sender<HeavySlot>)>,
}

/// One heavy-work slot, given back when dropped.
#[derive(Debug)]
pub struct HeavySlot {
    gate: FairGate,
    organization: String,
}

impl FairGate {
    /// A gate of `slots` slots; 0 lets every request through at once.
    pub(crate) fn new(slots: usize) -> Option<Self> {
        (slots > 0).then(|| Self {
            inner: Arc::new(Mutex::new(GateState {
                free: slots,
                held: HashMap::new(),
                waiting: VecDeque::new(),
            })),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, GateState> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits for a slot for `organization`.
    pub(crate) async fn acquire(&self, organization: &str) -> HeavySlot {
        let (sender, receiver) = oneshot::channel();
        let next = {
            let mut state = self.state();
            state.waiting.push_back((organization.to_owned(), sender));
            state.grant()
        };
        self.hand_over(next);
        // the sender stays queued until it is handed a slot; the gate outlives its waiters
        receiver.await.expect("a queued waiter is answered")
    }

    fn hand_over(&self, next: Option<(oneshot::Sender<HeavySlot>, String)>) {
        // outside the lock: were the waiter gone since, the slot it was sent is dropped, which
        // gives it back again
        if let Some((sender, organization)) = next {
            let _ = sender.send(HeavySlot {
                gate: self.clone(),
                organization,
            });
        }
    }

    /// Gives a slot back: to the waiting organization holding the fewest, else to the pool.
    fn release(&self, organization: &str) {
        let next = {
            let mut state = self.state();
            if let Some(held) = state.held.get_mut(organization) {
                *held -= 1;
                if *held == 0 {
                    state.held.remove(organization);
                }
            }
            state.free += 1;
            state.grant()
        };
        self.hand_over(next);
    }
}

impl GateState {
    /// Takes a free slot for the waiter whose organization holds the fewest (first in line
    /// among equals), if any waits.
    fn grant(&mut self) -> Option<(oneshot::Sender<HeavySlot>, String)> {
        // waiters that gave up are dropped first, so they never take a turn
        self.waiting.retain(|(_, sender)| !sender.is_closed());
        if self.free == 0 {
            return None;
        }
        let position = self
            .waiting
            .iter()
            .enumerate()
            .min_by_key(|(index, (organization, _))| {
                (self.held.get(organization).copied().unwrap_or(0), *index)
            })
            .map(|(index, _)| index)?;
        let (organization, sender) = self.waiting.remove(position)?;
        self.free -= 1;
        *self.held.entry(organization.clone()).or_default() += 1;
        Some((sender, organization))
    }
}

impl Drop for HeavySlot {
    fn drop(&mut self) {
        self.gate.release(&self.organization);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A task waiting for a slot for `organization`.
    fn waiter(gate: &FairGate, organization: &'static str) -> tokio::task::JoinHandle<HeavySlot> {
        let gate = gate.clone();
        tokio::spawn(async move { gate.acquire(organization).await })
    }

    fn get(uri: &str) -> Request<()> {
        Request::get(uri).body(()).unwrap()
    }

    #[test]
    fn heavy_requests_are_the_costly_shapes() {
        for heavy in [
            "/scim/v2/Users?count=1000",
            "/scim/v2/Users?count=x",
            "/scim/v2/Groups?attributes=members",
            "/scim/v2/Users?attributes=groups&count=10",
            "/scim/v2/Users?filter=displayName%20co%20%227%22",
        ] {
            assert!(is_heavy(&get(heavy)), "{heavy}");
        }
        for light in [
            "/scim/v2/Users",
            "/scim/v2/Users?filter=userName%20eq%20%22a%22",
            "/scim/v2/Users?startIndex=1&count=100",
            "/scim/v2/Users/123",
            "/scim/v2/Groups/123?attributes=members",
            "/scim/v2/ServiceProviderConfig",
        ] {
            assert!(!is_heavy(&get(light)), "{light}");
        }
        let bulk = Request::post("/scim/v2/Bulk").body(()).unwrap();
        assert!(is_heavy(&bulk));
        let search = Request::post("/scim/v2/Users/.search").body(()).unwrap();
        assert!(is_heavy(&search));
        let create = Request::post("/scim/v2/Users?count=5000").body(()).unwrap();
        assert!(!is_heavy(&create));
    }

    /// While organization A holds every slot and has more waiting, B's waiting request gets the
    /// next slot that frees, ahead of A's earlier ones.
    #[tokio::test]
    async fn a_freed_slot_goes_to_the_organization_holding_the_fewest() {
        let gate = FairGate::new(2).unwrap();
        let a1 = gate.acquire("a").await;
        let a2 = gate.acquire("a").await;
        let waiting_a = waiter(&gate, "a");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let waiting_b = waiter(&gate, "b");
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(a1);
        let b = tokio::time::timeout(Duration::from_secs(5), waiting_b)
            .await
            .expect("B is served first")
            .unwrap();
        assert!(!waiting_a.is_finished(), "A's waiter must still wait");
        drop(a2);
        let a3 = tokio::time::timeout(Duration::from_secs(5), waiting_a)
            .await
            .expect("then A")
            .unwrap();
        drop((b, a3));
        assert_eq!(gate.state().free, 2);
        assert!(gate.state().held.is_empty());
    }

    /// Work inside a request that holds a slot does not wait for a second one (with one slot it
    /// would wait forever).
    #[tokio::test]
    async fn a_request_holding_a_slot_is_known_to_hold_it() {
        assert!(!holds_slot());
        assert!(holding(true, async { holds_slot() }).await);
        assert!(!holding(false, async { holds_slot() }).await);
    }

    /// A waiter that gave up never takes a slot; the slot goes on to the next one.
    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_keep_a_slot() {
        let gate = FairGate::new(1).unwrap();
        let held = gate.acquire("a").await;
        let gone = waiter(&gate, "b");
        tokio::time::sleep(Duration::from_millis(20)).await;
        gone.abort();
        let _ = gone.await;
        let next = waiter(&gate, "c");
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(held);
        let c = tokio::time::timeout(Duration::from_secs(5), next)
            .await
            .expect("C is served")
            .unwrap();
        drop(c);
        assert_eq!(gate.state().free, 1);
    }
}
