//! Resolution failures in plain English.
//!
//! pubgrub explains a failure as a chain of "because … and …, …" steps; this formatter words each
//! step for people: the project is "your project", requirements are shown as written in
//! `velo.json` or the index, and "no version matches" says which versions do exist.

use std::collections::BTreeSet;

use pubgrub::{
    DefaultStringReporter, DerivationTree, Derived, External, Map, Ranges, ReportFormatter, Reporter, Term,
};

use super::provider::{Node, Provider};
use super::PackageSource;
use crate::version::{display_ranges, Version};

type Tree = DerivationTree<Node, Ranges<Version>, String>;
type Ext = External<Node, Ranges<Version>, String>;

struct Formatter<'a, 'p, S> {
    provider: &'a Provider<'p, S>,
}

/// The explanation and a hint naming the project's dependencies involved.
pub(super) fn explain<S: PackageSource>(tree: &Tree, provider: &Provider<'_, S>) -> (String, String) {
    let formatter = Formatter { provider };
    let report = DefaultStringReporter::report_with_formatter(tree, &formatter);
    let mut involved: BTreeSet<String> = BTreeSet::new();
    collect_root_dependencies(tree, &mut involved);
    let hint = if involved.is_empty() {
        "run `velo outdated` to see which versions exist".to_string()
    } else {
        let names: Vec<String> = involved.iter().map(|n| format!("`{n}`")).collect();
        format!(
            "loosen the requirement on {} in `velo.json`; `velo outdated` lists the versions that exist",
            join_and(&names)
        )
    };
    (report, hint)
}

fn collect_root_dependencies(tree: &Tree, out: &mut BTreeSet<String>) {
    match tree {
        DerivationTree::External(External::FromDependencyOf(Node::Root, _, Node::Package(dep), _)) => {
            out.insert(dep.to_string());
        }
        DerivationTree::External(_) => {}
        DerivationTree::Derived(derived) => {
            collect_root_dependencies(&derived.cause1, out);
            collect_root_dependencies(&derived.cause2, out);
        }
    }
}

impl<S: PackageSource> Formatter<'_, '_, S> {
    /// `a 2.1.0`, `a >=2.1.0`, or `every version of a`.
    fn package_versions(&self, package: &Node, range: &Ranges<Version>) -> String {
        let Node::Package(name) = package else {
            return package.to_string();
        };
        let known = self.provider.known_versions(name);
        let inside: Vec<&Version> = known.iter().filter(|v| range.contains(v)).collect();
        if let [only] = inside.as_slice() {
            return format!("{name} {only}");
        }
        let range = if known.is_empty() {
            range.clone()
        } else {
            range.simplify(known.iter())
        };
        if range == Ranges::full() {
            format!("every version of {name}")
        } else {
            format!("{name} {}", display_ranges(&range))
        }
    }

    /// ` (only b 1.0.0 and 2.4.0 exist)` when nothing usable is inside `range`.
    fn availability(&self, dependency: &Node, range: &Ranges<Version>) -> String {
        let Node::Package(name) = dependency else {
            return String::new();
        };
        let known = self.provider.known_versions(name);
        let allow_prerelease = self.provider.allows_prerelease(name);
        if known.is_empty()
            || known
                .iter()
                .any(|v| range.contains(v) && (allow_prerelease || !v.is_prerelease()))
        {
            return String::new();
        }
        format!(" ({})", self.existing(name, &known, range))
    }

    /// `only b 1.0.0 and 2.4.0 exist`, noting prereleases that were skipped.
    fn existing(&self, name: &str, known: &[Version], range: &Ranges<Version>) -> String {
        let shown: Vec<String> = if known.len() <= 6 {
            known.iter().map(ToString::to_string).collect()
        } else {
            let mut newest: Vec<String> = known
                .iter()
                .rev()
                .take(5)
                .rev()
                .map(ToString::to_string)
                .collect();
            newest.insert(0, format!("{} older versions,", known.len() - 5));
            newest
        };
        let exist = if known.len() == 1 { "exists" } else { "exist" };
        let mut text = format!("only {name} {} {exist}", join_and(&shown));
        let skipped_prereleases = !self.provider.allows_prerelease(name)
            && known.iter().any(|v| v.is_prerelease() && range.contains(v));
        if skipped_prereleases {
            text.push_str(
                "; prereleases are skipped unless the requirement names one, such as `^2.0.0-beta`",
            );
        }
        text
    }

    fn requirement(
        &self,
        package: &Node,
        versions: &Ranges<Version>,
        dependency: &Node,
        range: &Ranges<Version>,
    ) -> String {
        let Node::Package(name) = dependency else {
            return dependency.to_string();
        };
        let text = self
            .provider
            .requirement_text(package, versions, name, range)
            .unwrap_or_else(|| display_ranges(range));
        if text == "*" {
            name.to_string()
        } else {
            format!("{name} {text}")
        }
    }

    fn no_versions(&self, package: &Node, range: &Ranges<Version>) -> String {
        let Node::Package(name) = package else {
            return "your project cannot be solved".to_string();
        };
        let known = self.provider.known_versions(name);
        if known.is_empty() {
            return format!("{name} has no versions");
        }
        format!(
            "no version of {name} matches {}; {}",
            display_ranges(range),
            self.existing(name, &known, range)
        )
    }
}

fn is_root(external: &Ext) -> bool {
    matches!(external, External::FromDependencyOf(Node::Root, ..))
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ").trim_end_matches(',')),
    }
}

impl<S: PackageSource> ReportFormatter<Node, Ranges<Version>, String> for Formatter<'_, '_, S> {
    type Output = String;

    fn format_external(&self, external: &Ext) -> String {
        match external {
            External::NotRoot(..) => "we are solving your project's dependencies".to_string(),
            External::NoVersions(package, range) => self.no_versions(package, range),
            External::Custom(package, range, reason) => {
                format!(
                    "{} cannot be used: {reason}",
                    self.package_versions(package, range)
                )
            }
            External::FromDependencyOf(package, versions, dependency, range) => {
                let depends = self.requirement(package, versions, dependency, range)
                    + &self.availability(dependency, range);
                match package {
                    Node::Root => format!("your project depends on {depends}"),
                    _ => format!(
                        "{} depends on {depends}",
                        self.package_versions(package, versions)
                    ),
                }
            }
        }
    }

    fn format_terms(&self, terms: &Map<Node, Term<Ranges<Version>>>) -> String {
        let mut terms: Vec<_> = terms.iter().collect();
        terms.sort_by(|a, b| a.0.cmp(b.0));
        match terms.as_slice() {
            [] => "version solving failed".to_string(),
            [(Node::Root, Term::Positive(_))] => "your project's requirements cannot all be met".to_string(),
            [(package, Term::Positive(range))] => {
                format!("{} cannot be used", self.package_versions(package, range))
            }
            [(package, Term::Negative(range))] => {
                format!("{} is required", self.package_versions(package, range))
            }
            [(p1, Term::Positive(r1)), (p2, Term::Negative(r2))]
            | [(p2, Term::Negative(r2)), (p1, Term::Positive(r1))] => self.format_external(
                &External::FromDependencyOf((*p1).clone(), r1.clone(), (*p2).clone(), r2.clone()),
            ),
            terms => {
                let parts: Vec<String> = terms
                    .iter()
                    .map(|(package, term)| match term {
                        Term::Positive(range) => self.package_versions(package, range),
                        Term::Negative(range) => format!("not {}", self.package_versions(package, range)),
                    })
                    .collect();
                format!("{} cannot be used together", join_and(&parts))
            }
        }
    }

    fn explain_both_external(
        &self,
        external1: &Ext,
        external2: &Ext,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        // Start from the project's own requirement when one of the two is it.
        let (external1, external2) = if is_root(external2) {
            (external2, external1)
        } else {
            (external1, external2)
        };
        format!(
            "Because {} and {}, {}.",
            self.format_external(external1),
            self.format_external(external2),
            self.format_terms(current_terms)
        )
    }

    fn explain_both_ref(
        &self,
        ref_id1: usize,
        derived1: &Derived<Node, Ranges<Version>, String>,
        ref_id2: usize,
        derived2: &Derived<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} ({ref_id1}) and {} ({ref_id2}), {}.",
            self.format_terms(&derived1.terms),
            self.format_terms(&derived2.terms),
            self.format_terms(current_terms)
        )
    }

    fn explain_ref_and_external(
        &self,
        ref_id: usize,
        derived: &Derived<Node, Ranges<Version>, String>,
        external: &Ext,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "Because {} ({ref_id}) and {}, {}.",
            self.format_terms(&derived.terms),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_external(
        &self,
        external: &Ext,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {}, {}.",
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_ref(
        &self,
        ref_id: usize,
        derived: &Derived<Node, Ranges<Version>, String>,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {} ({ref_id}), {}.",
            self.format_terms(&derived.terms),
            self.format_terms(current_terms)
        )
    }

    fn and_explain_prior_and_external(
        &self,
        prior_external: &Ext,
        external: &Ext,
        current_terms: &Map<Node, Term<Ranges<Version>>>,
    ) -> String {
        format!(
            "And because {} and {}, {}.",
            self.format_external(prior_external),
            self.format_external(external),
            self.format_terms(current_terms)
        )
    }
}
