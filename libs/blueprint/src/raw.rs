//! The topology file as YAML spells it: the serde twin of [`crate::Topology`].
//!
//! Only structure is checked here (`deny_unknown_fields` catches typos, missing fields are
//! serde's errors). Every scalar stays text wrapped in [`Spanned`], so validation in
//! `topology.rs` can say where a bad value sits. Nothing outside the crate sees these types.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

/// A text scalar and where it was written.
pub(crate) type Text = Spanned<String>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawTopology {
    pub project: RawProject,
    pub domain: Text,
    #[serde(default)]
    pub default_service: Option<Text>,
    pub services: Spanned<Vec<RawService>>,
    #[serde(default)]
    pub load_balancer: Option<RawLoadBalancer>,
    pub iap: RawIap,
    pub gateway: RawGateway,
    pub firebase: RawFirebase,
    #[serde(default)]
    pub local: Option<RawLocal>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawProject {
    pub project_id: Text,
    pub project_number: Text,
    pub region: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawService {
    pub name: Text,
    pub paths: Vec<Text>,
    pub ingress: Text,
    pub invokers: Vec<Text>,
    #[serde(default)]
    pub custom_audiences: Option<Spanned<Vec<Text>>>,
    #[serde(default)]
    pub invoker_iam_disabled: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawLoadBalancer {
    #[serde(default)]
    pub region: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawIap {
    pub oauth2_client_id: Text,
    #[serde(default)]
    pub programmatic_clients: Vec<Text>,
    #[serde(default)]
    pub allow_http_options: bool,
    #[serde(default)]
    pub bindings: Vec<RawBinding>,
    #[serde(default)]
    pub service_bindings: Option<KeyedList<Vec<RawBinding>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawBinding {
    pub role: Text,
    pub members: Vec<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawGateway {
    pub api_id: Text,
    pub service_account: Text,
    pub openapi: Text,
    #[serde(default)]
    pub managed_service: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawFirebase {
    pub project_id: Text,
    pub web_api_key: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawLocal {
    #[serde(default)]
    pub upstreams: Option<KeyedList<Text>>,
    #[serde(default)]
    pub test_users: Vec<Text>,
}

/// A YAML mapping kept in file order, each key with its location. (Duplicate keys are already
/// refused by serde-saphyr.) `null` is read as empty by wrapping it in `Option`.
#[derive(Debug)]
pub(crate) struct KeyedList<V>(pub Vec<(Text, V)>);

impl<V> KeyedList<V> {
    pub(crate) fn entries(list: &Option<Self>) -> &[(Text, V)] {
        list.as_ref().map_or(&[], |list| &list.0)
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for KeyedList<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<V> {
            type Value = KeyedList<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<Text, V>()? {
                    entries.push(entry);
                }
                Ok(KeyedList(entries))
            }
        }

        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}
