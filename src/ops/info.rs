//! `velo info`: what a forge release offers each platform, and why each asset was kept or
//! dropped.

use crate::manifest::PackageKey;
use crate::platform::Platform;
use crate::settings::Settings;
use crate::sources::forge::assets::{self, Verdict};
use crate::sources::forge::{self, ForgeError, ForgeRepo, Release};
use crate::version::{Version, VersionReq};

/// The assets of one release, judged for one platform.
#[derive(Debug, serde::Serialize)]
pub struct PlatformAssets {
    pub platform: Platform,
    /// The asset velo would lock, if any.
    pub chosen: Option<String>,
    /// The assets that fit, best first.
    pub candidates: Vec<String>,
    /// Every asset, best candidates first, then the dropped ones with the reason.
    pub assets: Vec<AssetVerdict>,
}

#[derive(Debug, serde::Serialize)]
pub struct AssetVerdict {
    pub name: String,
    /// `candidate #1`, or why it was dropped.
    pub verdict: String,
}

/// The release `requirement` picks and how its assets fare on every platform.
pub async fn forge_assets(
    key: &PackageKey,
    requirement: &VersionReq,
    settings: &Settings,
    pattern: Option<&str>,
) -> Result<(Release, Vec<PlatformAssets>), ForgeError> {
    let repo = ForgeRepo::from_key(key)?;
    let http = crate::http::HttpClient::new(&settings.http).map_err(|err| ForgeError::BadResponse {
        url: key.to_string(),
        message: err.to_string(),
    })?;
    let releases = forge::api_releases(&http, &settings.cache, settings.offline, &repo).await?;
    let release = releases
        .into_iter()
        .filter(|release| !release.draft && (!release.prerelease || requirement.allows_prerelease()))
        .filter_map(|release| Some((Version::parse_lenient(&release.tag).ok()?, release)))
        .filter(|(version, _)| requirement.matches(version))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, release)| release)
        .ok_or_else(|| ForgeError::BadResponse {
            url: key.to_string(),
            message: format!("no release matches `{requirement}`"),
        })?;
    let infos = release.asset_infos();
    let preferences = assets::Preferences {
        pattern: pattern.map(str::to_string),
        ..assets::Preferences::default()
    };
    let per_platform = Platform::ALL
        .into_iter()
        .map(|platform| {
            let selection = assets::select(&infos, platform, &preferences);
            let mut judged: Vec<(usize, String, String)> = selection
                .verdicts
                .iter()
                .map(|(index, verdict)| {
                    let (order, text) = match verdict {
                        Verdict::Candidate { rank } => (*rank, format!("candidate #{}", rank + 1)),
                        Verdict::Dropped(reason) => (usize::MAX, format!("dropped: {reason}")),
                    };
                    (order, infos[*index].name.clone(), text)
                })
                .collect();
            judged.sort();
            PlatformAssets {
                platform,
                chosen: selection.chosen.map(|index| infos[index].name.clone()),
                candidates: selection
                    .candidates
                    .iter()
                    .map(|&index| infos[index].name.clone())
                    .collect(),
                assets: judged
                    .into_iter()
                    .map(|(_, name, verdict)| AssetVerdict { name, verdict })
                    .collect(),
            }
        })
        .collect();
    Ok((release, per_platform))
}

/// What a Homebrew formula offers one platform.
#[derive(Debug, serde::Serialize)]
pub struct FormulaPlatform {
    pub platform: Platform,
    /// The variation merged over the record for this platform.
    pub variation: String,
    /// Why it cannot be installed here, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unavailable: Option<String>,
    /// Runtime dependencies here, by formula name.
    pub dependencies: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bottle: Option<ChosenBottle>,
    /// Every bottle tag of the record: `chosen`, or why not.
    pub tags: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, serde::Serialize)]
pub struct ChosenBottle {
    pub tag: String,
    pub url: String,
    pub sha256: String,
    pub cellar: String,
}

/// A Homebrew formula as velo would lock it.
#[derive(Debug, serde::Serialize)]
pub struct FormulaInfo {
    /// The canonical name (the one asked for may be an alias or an old name).
    pub formula: String,
    pub version: String,
    pub keg_only: bool,
    pub min_macos: String,
    pub platforms: Vec<FormulaPlatform>,
}

/// How the formula `name` fares on every platform Homebrew has bottles for.
pub async fn brew_formula(
    name: &str,
    settings: &Settings,
    min_macos: crate::manifest::MacosVersion,
) -> Result<FormulaInfo, crate::sources::brew::BrewError> {
    use crate::sources::brew::{bottle, BrewError, BrewOptions, BrewSource};
    let http = crate::http::HttpClient::new(&settings.http).map_err(|err| BrewError::Invalid {
        name: name.to_string(),
        message: err.to_string(),
    })?;
    let options = BrewOptions {
        targets: Platform::ALL.into_iter().collect(),
        min_macos,
        prefixed: false,
    };
    let source = BrewSource::new(
        http,
        &settings.cache,
        &settings.homebrew,
        settings.offline,
        options,
    );
    let formula = source.formula(name).await?;
    if let Some(message) = formula.refusal() {
        return Err(BrewError::Refused {
            name: formula.common.name.clone(),
            message,
        });
    }
    let invalid = |message: String| BrewError::Invalid {
        name: formula.common.name.clone(),
        message,
    };
    let mut platforms = Vec::new();
    for platform in Platform::ALL {
        let Some(view) = formula.for_platform(platform, min_macos).map_err(invalid)? else {
            continue;
        };
        let chosen = view.selection.chosen.clone().zip(view.selection.file.clone());
        let unavailable = view.excluded.clone().or_else(|| {
            chosen
                .is_none()
                .then(|| "Homebrew has no bottle for it".to_string())
        });
        platforms.push(FormulaPlatform {
            platform,
            variation: view.variation,
            unavailable,
            dependencies: view.dependencies,
            bottle: chosen.map(|(tag, file)| {
                let url = match bottle::blob_parts(&file.url) {
                    Some((repo, _)) => bottle::blob_url(&settings.homebrew.bottle_url, repo, &file.sha256),
                    None => file.url.clone(),
                };
                ChosenBottle {
                    tag,
                    url,
                    sha256: file.sha256,
                    cellar: file.cellar,
                }
            }),
            tags: view.selection.verdicts,
        });
    }
    Ok(FormulaInfo {
        formula: formula.common.name.clone(),
        version: formula.pkg_version().unwrap_or_default(),
        keg_only: formula.common.keg_only,
        min_macos: min_macos.to_string(),
        platforms,
    })
}
