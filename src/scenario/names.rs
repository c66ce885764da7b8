//! The node namespace: brokers `b1`..`bN`, the `controller`, and clients by their name; a
//! consumer entry with `members = N` is N nodes, `<name>1`..`<name>N`. Faults and nemesis
//! targets may only name these, and client names must not shadow a broker, the controller
//! or each other, so that a node name in a report is never ambiguous.

use toml::Spanned;

use super::error::Problem;
use super::raw::Names;
use super::spelling::did_you_mean;

/// Every node of a scenario, in a fixed order (brokers, controller, clients as declared).
pub struct Nodes {
    brokers: u32,
    /// Name and what it is ("a broker", "a producer", "member 2 of consumer `c`"), for
    /// messages.
    nodes: Vec<(String, String)>,
    /// Consumer entries with several members: the entry's name and its member count. The
    /// entry's name is no node, but stays reserved so that it cannot name another one.
    families: Vec<(String, u32)>,
}

impl Nodes {
    pub fn new(brokers: u32) -> Nodes {
        let mut nodes: Vec<_> =
            (1..=brokers).map(|i| (format!("b{i}"), "a broker".into())).collect();
        nodes.push(("controller".into(), "the controller".into()));
        Nodes { brokers, nodes, families: Vec::new() }
    }

    /// Registers a producer or consumer (`role`) under its name.
    pub fn add_client(
        &mut self,
        name: &Spanned<String>,
        role: &'static str,
    ) -> Result<(), Problem> {
        let text = name.get_ref();
        not_empty(name, role)?;
        if is_broker_name(text) {
            return Err(Problem::at(name.span(), format!("`{text}` is a broker name"))
                .label("reserved for brokers")
                .help(rename(role)));
        }
        if let Some(taken_by) = self.taken_by(text) {
            return Err(Problem::at(
                name.span(),
                format!("the name `{text}` is already used by {taken_by}"),
            )
            .label("already used")
            .help(rename(role)));
        }
        self.nodes.push((text.clone(), format!("a {role}")));
        Ok(())
    }

    /// Registers the `count` members of the consumer entry `name`, nodes `<name>1`..
    /// `<name>N`, and returns their names.
    pub fn add_members(
        &mut self,
        name: &Spanned<String>,
        count: u32,
    ) -> Result<Vec<String>, Problem> {
        assert!(count > 1, "a single member is named like its entry");
        let base = name.get_ref();
        not_empty(name, "consumer")?;
        if let Some(taken_by) = self.taken_by(base) {
            return Err(Problem::at(
                name.span(),
                format!("the name `{base}` is already used by {taken_by}"),
            )
            .label("already used")
            .help(rename("consumer")));
        }
        let members: Vec<String> = (1..=count).map(|i| format!("{base}{i}")).collect();
        let range = format!("{base}1..{base}{count}");
        let fix = format!(
            "with members = {count}, this consumer's nodes are {range}: rename the consumer \
             (node names must differ from each other, from `controller` and from broker names)"
        );
        for member in &members {
            let clash = if is_broker_name(member) {
                Some(format!("`{member}` is a broker name"))
            } else {
                self.taken_by(member).map(|by| format!("`{member}` is already used by {by}"))
            };
            if let Some(clash) = clash {
                return Err(Problem::at(
                    name.span(),
                    format!("consumer `{base}` names its members {range}, and {clash}"),
                )
                .label(format!("members {range}"))
                .help(fix));
            }
        }
        for (i, member) in members.iter().enumerate() {
            self.nodes.push((member.clone(), format!("member {} of consumer `{base}`", i + 1)));
        }
        self.families.push((base.clone(), count));
        Ok(members)
    }

    /// What already goes by `name`: a node, or a consumer entry with members.
    fn taken_by(&self, name: &str) -> Option<String> {
        if let Some((_, what)) = self.nodes.iter().find(|(n, _)| n == name) {
            return Some(what.clone());
        }
        self.families
            .iter()
            .find(|(base, _)| base == name)
            .map(|(base, count)| format!("a consumer with members {base}1..{base}{count}"))
    }

    /// A name that must be a node; `context` says where it was found ("a crash fault").
    pub fn node(&self, name: &Spanned<String>, context: &str) -> Result<String, Problem> {
        let text = name.get_ref();
        if self.nodes.iter().any(|(n, _)| n == text) {
            return Ok(text.clone());
        }
        let names: Vec<&str> = self.nodes.iter().map(|(n, _)| n.as_str()).collect();
        let family = self.families.iter().find(|(base, _)| base == text);
        let hint = if let Some((base, count)) = family {
            format!(
                "consumer `{base}` is {count} nodes, {base}1..{base}{count}: name the members; "
            )
        } else if is_broker_name(text) {
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
        self.nodes[..self.brokers as usize].iter().map(|(n, _)| n.clone()).collect()
    }
}

fn not_empty(name: &Spanned<String>, role: &str) -> Result<(), Problem> {
    if name.get_ref().trim().is_empty() {
        return Err(Problem::at(name.span(), format!("the {role} has an empty name"))
            .label("empty")
            .help(format!("give the {role} a name, e.g. name = \"{}1\"", &role[..1])));
    }
    Ok(())
}

fn rename(role: &str) -> String {
    format!(
        "rename this {role}: client names must differ from each other, from `controller` and \
         from broker names (b1, b2, ...)"
    )
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
