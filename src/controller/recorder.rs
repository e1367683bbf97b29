//! Publishes `events.k8s.io/v1` Events, like kube's `Recorder`, with two differences that
//! matter with thousands of objects:
//! - the same event again within a few minutes (same object, reason and note) becomes a
//!   series on the first one (a patch of its count), while events that differ in their note
//!   stay separate events: two gates failing at once are two `GateFailed` events, not one
//!   "x2" event showing only the first gate;
//! - recent events are forgotten once a minute, not by a scan of all of them on every event.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::{Event as K8sEvent, EventSeries};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event, EventType, Reporter};
use serde_json::json;

/// How long a published event can still grow into a series (kube's and client-go's value).
const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);
const FORGET_EVERY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    namespace: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    uid: Option<String>,
    reason: String,
    warning: bool,
    note: Option<String>,
}

struct Recent {
    /// The Event object's name.
    name: String,
    count: i32,
    last: Instant,
}

struct State {
    recent: HashMap<Key, Recent>,
    forgotten_at: Instant,
}

pub struct Recorder {
    client: Client,
    reporter: Reporter,
    state: Mutex<State>,
}

impl Recorder {
    pub fn new(client: Client, reporter: Reporter) -> Recorder {
        Recorder {
            client,
            reporter,
            state: Mutex::new(State {
                recent: HashMap::new(),
                forgotten_at: Instant::now(),
            }),
        }
    }

    pub async fn publish(
        &self,
        event: &Event,
        regarding: &ObjectReference,
    ) -> Result<(), kube::Error> {
        let key = Key {
            namespace: regarding.namespace.clone(),
            kind: regarding.kind.clone(),
            name: regarding.name.clone(),
            uid: regarding.uid.clone(),
            reason: event.reason.clone(),
            warning: matches!(event.type_, EventType::Warning),
            note: event.note.clone(),
        };
        let now = Instant::now();
        let repeat = self.state.lock().ok().and_then(|mut state| {
            if now.duration_since(state.forgotten_at) >= FORGET_EVERY {
                state
                    .recent
                    .retain(|_, r| now.duration_since(r.last) < SERIES_WINDOW);
                state.forgotten_at = now;
            }
            state
                .recent
                .get(&key)
                .filter(|r| now.duration_since(r.last) < SERIES_WINDOW)
                .map(|r| (r.name.clone(), r.count + 1))
        });
        let namespace = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), namespace);
        let (name, count) = match repeat {
            Some((name, count)) => {
                let series = EventSeries {
                    count,
                    last_observed_time: MicroTime(Timestamp::now()),
                };
                api.patch(
                    &name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({ "series": series })),
                )
                .await?;
                (name, count)
            }
            None => {
                let created = api
                    .create(&PostParams::default(), &self.new_event(event, regarding))
                    .await?;
                (created.metadata.name.unwrap_or_default(), 1)
            }
        };
        if let Ok(mut state) = self.state.lock() {
            state.recent.insert(
                key,
                Recent {
                    name,
                    count,
                    last: now,
                },
            );
        }
        Ok(())
    }

    fn new_event(&self, event: &Event, regarding: &ObjectReference) -> K8sEvent {
        let now = Timestamp::now();
        let controller = &self.reporter.controller;
        K8sEvent {
            metadata: ObjectMeta {
                namespace: regarding.namespace.clone(),
                name: Some(format!(
                    "{}.{:x}",
                    regarding.name.as_ref().unwrap_or(controller),
                    now.as_nanosecond()
                )),
                ..Default::default()
            },
            action: Some(event.action.clone()),
            reason: Some(event.reason.clone()),
            note: event.note.clone(),
            type_: Some(
                if matches!(event.type_, EventType::Warning) {
                    "Warning"
                } else {
                    "Normal"
                }
                .to_string(),
            ),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            related: event.secondary.clone(),
            reporting_controller: Some(controller.clone()),
            reporting_instance: Some(
                self.reporter
                    .instance
                    .clone()
                    .unwrap_or_else(|| controller.clone()),
            ),
            ..Default::default()
        }
    }
}
