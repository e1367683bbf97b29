//! Typing a document straight from its YAML (issue 18), without the `serde_json::Value` the
//! general reader builds first (`parse.rs`, then `set.rs`'s `classify`).
//!
//! The general reader costs a tree of every scalar and mapping, then a copy of it into the
//! typed object. This reader hands the YAML parser's events to the typed object directly, but
//! through [`AsValue`], which makes every read behave as it does through a `serde_json::Value`:
//! every scalar is resolved by the parser alone (`deserialize_any`, as the tree is built), map
//! keys are read as strings, `null` and options as the tree has them. Where the two could still
//! differ (a repeated key, which the tree resolves silently; a YAML tag; a non-finite float,
//! which the tree turns into `null`; an integer beyond 64 bits) this reader fails, and so it
//! does on any error: the caller then reads the document the general way, which reports errors
//! exactly as before. So a document read here is the same object as read there.
//!
//! While reading, it gathers what the general reader would take from the tree: the words of a
//! workload's strings ([`super::set`]'s `collect_names`). The values of a Secret (`data`,
//! `stringData`) and a ConfigMap (`data`) are never kept, not even decoded: a string there is
//! read as the empty string the trimmed object keeps.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use k8s_openapi::api::core::v1::PodSpec;
use serde::de::value::{BorrowedStrDeserializer, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor,
};

/// What a read gathers beside the object.
#[derive(Default)]
struct State {
    /// Hashes of the keys of the mappings being read: a stack, each mapping's from its mark.
    keys: Vec<u64>,
    /// The words of the value strings (see [`words`]), space-separated, when asked for.
    words: Option<String>,
    /// The top-level fields whose values are blanked (a Secret's `data`, ...).
    blank: &'static [&'static str],
    /// Depth of the mapping being read (the document is 1).
    depth: usize,
    /// Set while reading the value of a top-level field in `blank`.
    blanking: bool,
    /// Which of `apiVersion` (1) and `kind` (2) the document has at its top level.
    typed_by: u8,
}

type Shared<'s> = &'s RefCell<State>;

/// How [`typed`] reads a document.
#[derive(Clone, Copy, Debug, Default)]
pub struct Read {
    /// Gather the words of the value strings (workloads: the names they may mention).
    pub words: bool,
    /// Top-level fields whose mapping values are read as empty strings (see the module doc).
    pub blank: &'static [&'static str],
}

/// The document `text` typed as `K`, the object the general reader would make of it; `None`
/// where this reader cannot tell (see the module documentation) or the document has an error.
/// With `read.words`, also the words of its strings, space-separated, unsorted.
///
/// `K` is a Kubernetes kind whose reading checks `apiVersion` and `kind` when present (as
/// k8s-openapi's do): the document must have both, so it is one of `K`.
pub fn typed<K: DeserializeOwned>(text: &str, read: Read) -> Option<(K, Option<String>)> {
    let state = RefCell::new(State {
        words: read.words.then(String::new),
        blank: read.blank,
        ..State::default()
    });
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let object = K::deserialize(AsValue { de, state: &state }).ok()?;
    let state = state.into_inner();
    (state.typed_by == 3).then_some((object, state.words))
}

/// Gives back the room a pod spec's lists grew into while read (a list read here grows by
/// doubling, where the general reader knows each length: a container is a kilobyte, and
/// 10 000 Deployments kept 50 MB of empty room).
pub fn shrink_pod(pod: &mut PodSpec) {
    fn shrink<T>(list: Option<&mut Vec<T>>) {
        if let Some(list) = list {
            list.shrink_to_fit();
        }
    }
    for containers in [Some(&mut pod.containers), pod.init_containers.as_mut()]
        .into_iter()
        .flatten()
    {
        containers.shrink_to_fit();
        for c in containers.iter_mut() {
            shrink(c.env.as_mut());
            shrink(c.env_from.as_mut());
            shrink(c.ports.as_mut());
            shrink(c.volume_mounts.as_mut());
        }
    }
    shrink(pod.volumes.as_mut());
}

/// The words of a string that could be an object's name: every run of `[A-Za-z0-9._-]` of at
/// most 253 bytes (object names use a subset of these characters).
pub fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .filter(|w| !w.is_empty() && w.len() <= 253)
}

/// Whether a word can name an object at all: object names are lowercase (RFC 1123).
pub fn may_name(word: &str) -> bool {
    !word.bytes().any(|b| b.is_ascii_uppercase() || b == b'_')
}

fn refuse<E: de::Error>(what: &str) -> E {
    E::custom(format_args!("{what}: read through the general reader"))
}

/// A deserializer whose every read goes as through a `serde_json::Value`.
struct AsValue<'s, D> {
    de: D,
    state: Shared<'s>,
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for AsValue<'_, D> {
    type Error = D::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_any(Seen {
            visitor,
            state: self.state,
        })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.de.deserialize_option(Seen {
            visitor,
            state: self.state,
        })
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, D::Error> {
        Err(refuse("an enum"))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.deserialize_any(visitor)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier
    }
}

/// The visitor of a read, seeing what the parser resolved before the typed visitor does.
struct Seen<'s, V> {
    visitor: V,
    state: Shared<'s>,
}

impl<V> Seen<'_, V> {
    fn record(&self, s: &str) {
        if let Some(out) = self.state.borrow_mut().words.as_mut() {
            for w in words(s).filter(|w| may_name(w)) {
                out.push_str(w);
                out.push(' ');
            }
        }
    }
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Seen<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<V::Value, E> {
        self.visitor.visit_bool(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<V::Value, E> {
        // The tree keeps a non-negative integer as unsigned and hands it out so.
        match u64::try_from(v) {
            Ok(u) => self.visitor.visit_u64(u),
            Err(_) => self.visitor.visit_i64(v),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<V::Value, E> {
        self.visitor.visit_u64(v)
    }

    fn visit_i128<E: de::Error>(self, _: i128) -> Result<V::Value, E> {
        Err(refuse("a 128-bit integer"))
    }

    fn visit_u128<E: de::Error>(self, _: u128) -> Result<V::Value, E> {
        Err(refuse("a 128-bit integer"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<V::Value, E> {
        if v.is_finite() {
            self.visitor.visit_f64(v)
        } else {
            Err(refuse("a non-finite float"))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<V::Value, E> {
        self.record(v);
        self.visitor.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<V::Value, E> {
        self.record(v);
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<V::Value, E> {
        self.record(&v);
        self.visitor.visit_string(v)
    }

    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<V::Value, E> {
        Err(refuse("bytes"))
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.visitor.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<V::Value, D::Error> {
        self.visitor.visit_some(AsValue {
            de,
            state: self.state,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, _: D) -> Result<V::Value, D::Error> {
        Err(refuse("a newtype"))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.visitor.visit_seq(Items {
            seq,
            state: self.state,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        let mark = {
            let mut state = self.state.borrow_mut();
            state.depth += 1;
            state.keys.len()
        };
        self.visitor.visit_map(Entries {
            map,
            state: self.state,
            mark,
            blank_next: false,
        })
    }

    fn visit_enum<A: de::EnumAccess<'de>>(self, _: A) -> Result<V::Value, A::Error> {
        Err(refuse("a tagged value"))
    }
}

struct Items<'s, A> {
    seq: A,
    state: Shared<'s>,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Items<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.seq.next_element_seed(Wrap {
            seed,
            state: self.state,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

struct Entries<'s, A> {
    map: A,
    state: Shared<'s>,
    /// Where this mapping's keys start in `State::keys`.
    mark: usize,
    /// The key just read is a top-level field whose values are blanked.
    blank_next: bool,
}

/// FNV-1a: keys are short, and a collision only sends the document to the general reader.
fn hash(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Entries<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        // As the tree reads keys: as strings, whatever the scalar (`1: x` is "1").
        let Some(key) = self.map.next_key_seed(KeySeed)? else {
            let mut state = self.state.borrow_mut();
            state.keys.truncate(self.mark);
            state.depth -= 1;
            return Ok(None);
        };
        {
            let mut state = self.state.borrow_mut();
            let h = hash(&key);
            if state.keys[self.mark..].contains(&h) {
                return Err(refuse("a repeated key"));
            }
            state.keys.push(h);
            if state.depth == 1 {
                self.blank_next = state.blank.contains(&key.as_ref());
                state.typed_by |= match key.as_ref() {
                    "apiVersion" => 1,
                    "kind" => 2,
                    _ => 0,
                };
            }
        }
        match key {
            Cow::Borrowed(k) => seed.deserialize(BorrowedStrDeserializer::new(k)),
            Cow::Owned(k) => seed.deserialize(StrDeserializer::new(&k)),
        }
        .map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        if std::mem::take(&mut self.blank_next) {
            self.state.borrow_mut().blanking = true;
            let value = self.map.next_value_seed(Wrap {
                seed,
                state: self.state,
            });
            self.state.borrow_mut().blanking = false;
            return value;
        }
        if self.state.borrow().blanking && self.state.borrow().depth == 2 {
            // A value of a blanked field: a string is read as "", anything else refused.
            self.map.next_value_seed(Blank)?;
            return seed.deserialize(BorrowedStrDeserializer::new(""));
        }
        self.map.next_value_seed(Wrap {
            seed,
            state: self.state,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// A seed read through [`AsValue`].
struct Wrap<'s, T> {
    seed: T,
    state: Shared<'s>,
}

impl<'de, T: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<'_, T> {
    type Value = T::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<T::Value, D::Error> {
        self.seed.deserialize(AsValue {
            de,
            state: self.state,
        })
    }
}

/// A map key, as a string.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Cow<'de, str>, D::Error> {
        de.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

/// A value that must be a string, consumed unread.
struct Blank;

impl<'de> DeserializeSeed<'de> for Blank {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(BlankVisitor(PhantomData))
    }
}

struct BlankVisitor<'de>(PhantomData<&'de ()>);

impl<'de> Visitor<'de> for BlankVisitor<'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, _: &'de str) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{ConfigMap, Secret};
    use serde_json::Value;

    /// The general reader: the tree, then the typed object.
    fn through_value<K: DeserializeOwned>(text: &str) -> Option<K> {
        let value: Value = serde_yaml_ng::from_str(text).ok()?;
        serde_json::from_value(value).ok()
    }

    const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  labels: {app: api, tier: Web_1}
  annotations:
    note: 'see the db-credentials Secret'
spec:
  replicas: 3
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      unknownField: {name: hidden-ref}
      containers:
        - name: app
          image: ghcr.io/acme/api:1.2
          ports: [{name: http, containerPort: 8080}]
          readinessProbe: {httpGet: {path: /ready, port: http}}
          livenessProbe: {tcpSocket: {port: 8080}}
          resources: {requests: {cpu: 100m, memory: 1Gi}, limits: {cpu: 1}}
          env:
            - {name: A, value: \"1\"}
            - name: B
              valueFrom: {secretKeyRef: {name: db-credentials, key: password, optional: true}}
";

    #[test]
    fn the_object_is_the_one_the_tree_gives() {
        let read = Read {
            words: true,
            ..Read::default()
        };
        let (direct, words) = typed::<Deployment>(DEPLOYMENT, read).expect("read directly");
        assert_eq!(Some(direct), through_value::<Deployment>(DEPLOYMENT));
        let words = words.unwrap();
        for w in [
            "api",
            "db-credentials",
            "hidden-ref",
            "ghcr.io",
            "http",
            "100m",
        ] {
            assert!(words.split(' ').any(|x| x == w), "{w} in {words}");
        }
        assert!(!words.split(' ').any(|x| x == "Web_1" || x == "name"));
        // `optional: yes` is a string to YAML 1.2: both readers refuse it as a bool (the
        // general reader then reads it the YAML 1.1 way, see `yaml11.rs`).
        let yes = DEPLOYMENT.replace("optional: true", "optional: yes");
        assert!(through_value::<Deployment>(&yes).is_none());
        assert!(typed::<Deployment>(&yes, read).is_none());
    }

    #[test]
    fn where_the_tree_could_differ_the_general_reader_is_left_to() {
        let read = Read::default();
        // A repeated key (the tree keeps the last silently).
        let repeated = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, name: b}\n";
        assert!(typed::<ConfigMap>(repeated, read).is_none());
        // A tag, a non-finite float, a number where a string is wanted.
        assert!(
            typed::<ConfigMap>(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: !x {name: a}\n",
                read
            )
            .is_none()
        );
        assert!(typed::<Deployment>("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: .nan}\n", read).is_none());
        assert!(
            typed::<ConfigMap>(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: 1.0}\n",
                read
            )
            .is_none()
        );
        // The wrong kind, or none.
        assert!(
            typed::<Secret>(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
                read
            )
            .is_none()
        );
        assert!(typed::<Secret>("apiVersion: v1\nmetadata: {name: a}\n", read).is_none());
        // A key that is not a string is read as one, as the tree does.
        let numeric = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, labels: {1: x}}\n";
        assert_eq!(
            typed::<ConfigMap>(numeric, read).map(|(c, _)| c),
            through_value::<ConfigMap>(numeric)
        );
    }

    #[test]
    fn secret_and_config_map_values_are_never_read() {
        let read = Read {
            words: false,
            blank: &["data", "stringData"],
        };
        let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: 'not base64!'}\nstringData: {token: hunter2}\n";
        let (s, _) = typed::<Secret>(secret, read).expect("read");
        assert_eq!(s.data.unwrap()["password"].0, Vec::<u8>::new());
        assert_eq!(s.string_data.unwrap()["token"], "");
        // Not a string: the general reader, which reports it.
        let number = "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: 12}\n";
        assert!(typed::<Secret>(number, read).is_none());
        // Nested mappings below a blanked field are not blanked but refused.
        let nested =
            "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {password: {a: b}}\n";
        assert!(typed::<Secret>(nested, read).is_none());
    }
}
