//! The node namespace: brokers `b1`..`bN`, the `controller`, and clients by their name.
//! Faults and nemesis targets may only name these, and client names must not shadow a
//! broker or the controller, so that a node name in a report is never ambiguous.

use toml::Spanned;

use super::error::Problem;
use super::raw::Names;
use super::spelling::did_you_mean;

/// Every node of a scenario, in a fixed order (brokers, controller, clients as declared).
pub struct Nodes {
    brokers: u32,
    /// Name and what it is ("broker", "producer", ...), for messages.
    nodes: Vec<(String, &'static str)>,
}

impl Nodes {
    pub fn new(brokers: u32) -> Nodes {
        let mut nodes: Vec<_> = (1..=brokers).map(|i| (format!("b{i}"), "broker")).collect();
        nodes.push(("controller".into(), "controller"));
        Nodes { brokers, nodes }
    }

    /// Registers a producer or consumer (`role`) under its name.
    pub fn add_client(
        &mut self,
        name: &Spanned<String>,
        role: &'static str,
    ) -> Result<(), Problem> {
        let text = name.get_ref();
        let rename = format!(
            "rename this {role}: client names must differ from each other, from `controller` \
             and from broker names (b1, b2, ...)"
        );
        if text.trim().is_empty() {
            return Err(Problem::at(name.span(), format!("the {role} has an empty name"))
                .label("empty")
                .help(format!("give the {role} a name, e.g. name = \"{}1\"", &role[..1])));
        }
        if is_broker_name(text) {
            return Err(Problem::at(name.span(), format!("`{text}` is a broker name"))
                .label("reserved for brokers")
                .help(rename));
        }
        if let Some((_, taken_by)) = self.nodes.iter().find(|(n, _)| n == text) {
            let by = if *taken_by == "controller" { "the" } else { "a" };
            return Err(Problem::at(
                name.span(),
                format!("the name `{text}` is already used by {by} {taken_by}"),
            )
            .label("already used")
            .help(rename));
        }
        self.nodes.push((text.clone(), role));
        Ok(())
    }

    /// A name that must be a node; `context` says where it was found ("a crash fault").
    pub fn node(&self, name: &Spanned<String>, context: &str) -> Result<String, Problem> {
        let text = name.get_ref();
        if self.nodes.iter().any(|(n, _)| n == text) {
            return Ok(text.clone());
        }
        let names: Vec<&str> = self.nodes.iter().map(|(n, _)| n.as_str()).collect();
        let hint = if is_broker_name(text) {
            format!("the cluster has {} brokers, b1..b{}; ", self.brokers, self.brokers)
        } else {
            did_you_mean(text, &names)
        };
        Err(Problem::at(name.span(), format!("unknown node `{text}` in {context}"))
            .label("not a node of this scenario")
            .help(format!("{hint}the nodes are: {}", names.join(", "))))
    }

    /// A list of nodes, each known, none twice. May be empty; callers that need nodes say so.
    pub fn list(&self, names: &Names, context: &str) -> Result<Vec<String>, Problem> {
        no_repeats(names.get_ref())?;
        names.get_ref().iter().map(|n| self.node(n, context)).collect()
    }

    /// Every broker, the default set of nemesis targets.
    pub fn brokers(&self) -> Vec<String> {
        self.nodes.iter().filter(|(_, r)| *r == "broker").map(|(n, _)| n.clone()).collect()
    }
}

/// `b` followed by digits: the broker naming scheme, reserved whatever the broker count.
fn is_broker_name(name: &str) -> bool {
    name.strip_prefix('b').is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// Refuses the second occurrence of any name.
pub fn no_repeats<'a>(names: impl IntoIterator<Item = &'a Spanned<String>>) -> Result<(), Problem> {
    let mut seen: Vec<&str> = Vec::new();
    for name in names {
        let text = name.get_ref().as_str();
        if seen.contains(&text) {
            return Err(Problem::at(name.span(), format!("`{text}` is listed twice"))
                .label("repeated")
                .help("remove the repeated name"));
        }
        seen.push(text);
    }
    Ok(())
}
