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
