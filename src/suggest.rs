//! "Did you mean …?" suggestions for misspelt keys, package names and platforms.

/// The closest candidate to `input`, formatted as `; did you mean `x`?`, when one is close enough.
pub fn did_you_mean<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    closest(input, candidates).map(|best| format!("; did you mean `{best}`?"))
}

/// A hint for an unknown `input`: the closest candidate, else the list of all of them
/// (`the {plural} are: `a`, `b``).
pub fn closest_or_all<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
    plural: &str,
) -> String {
    match closest(input, candidates.clone()) {
        Some(best) => format!("did you mean `{best}`?"),
        None => {
            let all: Vec<String> = candidates.into_iter().map(|c| format!("`{c}`")).collect();
            format!("the {plural} are: {}", all.join(", "))
        }
    }
}

/// The candidate with the smallest edit distance to `input`, if it is plausibly a typo of it.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let input_lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            let distance = strsim::damerau_levenshtein(&input_lower, &candidate.to_ascii_lowercase());
            (distance, candidate)
        })
        .filter(|&(distance, candidate)| {
            let limit = (candidate.len().max(input.len()) / 3).max(1);
            distance <= limit
        })
        .min()
        .map(|(_, candidate)| candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_but_not_unrelated_words() {
        let keys = ["dependencies", "platforms", "registry", "tasks"];
        assert_eq!(closest("dependancies", keys), Some("dependencies"));
        assert_eq!(closest("platform", keys), Some("platforms"));
        assert_eq!(closest("Registry", keys), Some("registry"));
        assert_eq!(closest("frobnicate", keys), None);
    }
}
