//! Asset selection against the asset lists of real releases, and the helpers on their own.

use super::*;

use Platform::{
    LinuxAarch64 as LA, LinuxX86_64 as L, MacosAarch64 as MA, MacosX86_64 as M, WindowsX86_64 as W,
};

// ---------------------------------------------------------------------------------------------
// Releases, as their release pages list them (whitespace-separated asset names).
// ---------------------------------------------------------------------------------------------

const RIPGREP: &str = "
    ripgrep-14.1.1-aarch64-apple-darwin.tar.gz ripgrep-14.1.1-aarch64-apple-darwin.tar.gz.sha256
    ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz.sha256
    ripgrep-14.1.1-armv7-unknown-linux-gnueabihf.tar.gz ripgrep-14.1.1-armv7-unknown-linux-musleabi.tar.gz
    ripgrep-14.1.1-armv7-unknown-linux-musleabihf.tar.gz ripgrep-14.1.1-i686-pc-windows-msvc.zip
    ripgrep-14.1.1-i686-unknown-linux-gnu.tar.gz ripgrep-14.1.1-powerpc64-unknown-linux-gnu.tar.gz
    ripgrep-14.1.1-s390x-unknown-linux-gnu.tar.gz ripgrep-14.1.1-x86_64-apple-darwin.tar.gz
    ripgrep-14.1.1-x86_64-apple-darwin.tar.gz.sha256 ripgrep-14.1.1-x86_64-pc-windows-gnu.zip
    ripgrep-14.1.1-x86_64-pc-windows-msvc.zip ripgrep-14.1.1-x86_64-pc-windows-msvc.zip.sha256
    ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz.sha256
    ripgrep_14.1.1-1_amd64.deb ripgrep_14.1.1-1_amd64.deb.sha256";

const FD: &str = "
    fd-v10.2.0-aarch64-apple-darwin.tar.gz fd-v10.2.0-aarch64-pc-windows-msvc.zip
    fd-v10.2.0-aarch64-unknown-linux-gnu.tar.gz fd-v10.2.0-aarch64-unknown-linux-musl.tar.gz
    fd-v10.2.0-arm-unknown-linux-gnueabihf.tar.gz fd-v10.2.0-arm-unknown-linux-musleabihf.tar.gz
    fd-v10.2.0-i686-pc-windows-msvc.zip fd-v10.2.0-i686-unknown-linux-gnu.tar.gz
    fd-v10.2.0-i686-unknown-linux-musl.tar.gz fd-v10.2.0-x86_64-apple-darwin.tar.gz
    fd-v10.2.0-x86_64-pc-windows-gnu.zip fd-v10.2.0-x86_64-pc-windows-msvc.zip
    fd-v10.2.0-x86_64-unknown-linux-gnu.tar.gz fd-v10.2.0-x86_64-unknown-linux-musl.tar.gz
    fd_10.2.0_amd64.deb fd_10.2.0_arm64.deb fd_10.2.0_armhf.deb fd_10.2.0_i686.deb fd-musl_10.2.0_amd64.deb
    fd-musl_10.2.0_arm64.deb fd-musl_10.2.0_armhf.deb fd-musl_10.2.0_i686.deb";

/// bat 0.24.0 shipped no Apple silicon build.
const BAT: &str = "
    bat-v0.24.0-aarch64-unknown-linux-gnu.tar.gz bat-v0.24.0-arm-unknown-linux-gnueabihf.tar.gz
    bat-v0.24.0-arm-unknown-linux-musleabihf.tar.gz bat-v0.24.0-i686-pc-windows-msvc.zip
    bat-v0.24.0-i686-unknown-linux-gnu.tar.gz bat-v0.24.0-i686-unknown-linux-musl.tar.gz
    bat-v0.24.0-x86_64-apple-darwin.tar.gz bat-v0.24.0-x86_64-pc-windows-gnu.zip
    bat-v0.24.0-x86_64-pc-windows-msvc.zip bat-v0.24.0-x86_64-unknown-linux-gnu.tar.gz
    bat-v0.24.0-x86_64-unknown-linux-musl.tar.gz bat_0.24.0_amd64.deb bat_0.24.0_arm64.deb
    bat_0.24.0_armhf.deb bat_0.24.0_i386.deb bat-musl_0.24.0_amd64.deb bat-musl_0.24.0_i686.deb";

/// Bare executables, legacy aliases (`jq-linux64`, `jq-osx-amd64`, `jq-win64.exe`) and the
/// source tarball and zip.
const JQ: &str = "
    jq-1.7.1.tar.gz jq-1.7.1.zip jq-linux-amd64 jq-linux-arm64 jq-linux-armel jq-linux-armhf jq-linux-i386
    jq-linux-mips jq-linux-mips64 jq-linux-mips64el jq-linux-mips64r6 jq-linux-mips64r6el jq-linux-mipsel
    jq-linux-mipsr6 jq-linux-mipsr6el jq-linux-powerpc jq-linux-ppc64el jq-linux-riscv64 jq-linux-s390x
    jq-linux64 jq-macos-amd64 jq-macos-arm64 jq-osx-amd64 jq-win64.exe jq-windows-amd64.exe
    jq-windows-i386.exe sha256sum.txt";

/// Bare executables next to the same in archives; odd checksum files.
const YQ: &str = "
    checksums checksums-bsd checksums_hashes_order extract-checksum.sh yq_darwin_amd64
    yq_darwin_amd64.tar.gz yq_darwin_arm64 yq_darwin_arm64.tar.gz yq_freebsd_386 yq_freebsd_386.tar.gz
    yq_freebsd_amd64 yq_freebsd_amd64.tar.gz yq_linux_386 yq_linux_386.tar.gz yq_linux_amd64
    yq_linux_amd64.tar.gz yq_linux_arm yq_linux_arm.tar.gz yq_linux_arm64 yq_linux_arm64.tar.gz
    yq_linux_mips yq_linux_ppc64le yq_linux_riscv64 yq_linux_s390x yq_man_page_only.tar.gz yq_netbsd_amd64
    yq_openbsd_amd64 yq_windows_386.exe yq_windows_386.zip yq_windows_amd64.exe yq_windows_amd64.zip";

const GH: &str = "
    gh_2.63.2_checksums.txt gh_2.63.2_linux_386.deb gh_2.63.2_linux_386.rpm gh_2.63.2_linux_386.tar.gz
    gh_2.63.2_linux_amd64.deb gh_2.63.2_linux_amd64.rpm gh_2.63.2_linux_amd64.tar.gz
    gh_2.63.2_linux_arm64.deb gh_2.63.2_linux_arm64.rpm gh_2.63.2_linux_arm64.tar.gz
    gh_2.63.2_linux_armv6.deb gh_2.63.2_linux_armv6.rpm gh_2.63.2_linux_armv6.tar.gz
    gh_2.63.2_macOS_amd64.zip gh_2.63.2_macOS_arm64.zip gh_2.63.2_macOS_universal.pkg
    gh_2.63.2_windows_386.msi gh_2.63.2_windows_386.zip gh_2.63.2_windows_amd64.msi
    gh_2.63.2_windows_amd64.zip gh_2.63.2_windows_arm64.msi gh_2.63.2_windows_arm64.zip";

/// kubectl-style bare executables; the Windows one has no `.exe`.
const KIND: &str = "
    kind-darwin-amd64 kind-darwin-amd64.sha256sum kind-darwin-arm64 kind-darwin-arm64.sha256sum
    kind-linux-amd64 kind-linux-amd64.sha256sum kind-linux-arm64 kind-linux-arm64.sha256sum
    kind-windows-amd64 kind-windows-amd64.sha256sum";

const MINIKUBE: &str = "
    minikube-1.34.0-0.aarch64.rpm minikube-1.34.0-0.x86_64.rpm minikube-darwin-amd64
    minikube-darwin-amd64.sha256 minikube-darwin-amd64.tar.gz minikube-darwin-arm64
    minikube-darwin-arm64.tar.gz minikube-installer.exe minikube-installer.exe.sha256 minikube-linux-amd64
    minikube-linux-amd64.sha256 minikube-linux-amd64.tar.gz minikube-linux-arm minikube-linux-arm64
    minikube-linux-arm64.tar.gz minikube-linux-ppc64le minikube-linux-s390x minikube-windows-amd64.exe
    minikube-windows-amd64.exe.sha256 minikube-windows-amd64.tar.gz minikube_1.34.0-0_amd64.deb
    minikube_1.34.0-0_arm64.deb";

const HELM: &str = "
    helm-v3.16.3-darwin-amd64.tar.gz helm-v3.16.3-darwin-amd64.tar.gz.sha256sum
    helm-v3.16.3-darwin-arm64.tar.gz helm-v3.16.3-darwin-arm64.tar.gz.sha256sum
    helm-v3.16.3-linux-386.tar.gz helm-v3.16.3-linux-amd64.tar.gz helm-v3.16.3-linux-amd64.tar.gz.sha256sum
    helm-v3.16.3-linux-arm.tar.gz helm-v3.16.3-linux-arm64.tar.gz helm-v3.16.3-linux-ppc64le.tar.gz
    helm-v3.16.3-linux-riscv64.tar.gz helm-v3.16.3-linux-s390x.tar.gz helm-v3.16.3-windows-amd64.zip
    helm-v3.16.3-windows-amd64.zip.sha256sum helm-v3.16.3-windows-arm64.zip";

/// Helm's GitHub release holds only signatures; the archives live elsewhere.
const HELM_SIGNATURES_ONLY: &str = "
    helm-v3.16.3-darwin-amd64.tar.gz.asc helm-v3.16.3-darwin-arm64.tar.gz.asc
    helm-v3.16.3-linux-amd64.tar.gz.asc helm-v3.16.3-linux-amd64.tar.gz.sha256sum.asc
    helm-v3.16.3-windows-amd64.zip.asc";

/// Plain and extended builds; macOS only as a universal binary.
const HUGO: &str = "
    hugo_0.140.0_checksums.txt hugo_0.140.0_darwin-universal.pkg hugo_0.140.0_darwin-universal.tar.gz
    hugo_0.140.0_dragonfly-amd64.tar.gz hugo_0.140.0_freebsd-amd64.tar.gz hugo_0.140.0_linux-amd64.deb
    hugo_0.140.0_linux-amd64.tar.gz hugo_0.140.0_linux-arm.tar.gz hugo_0.140.0_linux-arm64.deb
    hugo_0.140.0_linux-arm64.tar.gz hugo_0.140.0_netbsd-amd64.tar.gz hugo_0.140.0_openbsd-amd64.tar.gz
    hugo_0.140.0_solaris-amd64.tar.gz hugo_0.140.0_windows-amd64.zip hugo_0.140.0_windows-arm64.zip
    hugo_extended_0.140.0_darwin-universal.pkg hugo_extended_0.140.0_darwin-universal.tar.gz
    hugo_extended_0.140.0_linux-amd64.deb hugo_extended_0.140.0_linux-amd64.tar.gz
    hugo_extended_0.140.0_linux-arm64.deb hugo_extended_0.140.0_linux-arm64.tar.gz
    hugo_extended_0.140.0_windows-amd64.zip hugo_extended_withdeploy_0.140.0_darwin-universal.tar.gz
    hugo_extended_withdeploy_0.140.0_linux-amd64.tar.gz hugo_extended_withdeploy_0.140.0_linux-arm64.tar.gz
    hugo_extended_withdeploy_0.140.0_windows-amd64.zip";

/// Older Hugo: `64bit`, `32bit`, `ARM`, `ARM64`.
const HUGO_OLD: &str = "
    hugo_0.92.0_checksums.txt hugo_0.92.0_FreeBSD-64bit.tar.gz hugo_0.92.0_Linux-32bit.tar.gz
    hugo_0.92.0_Linux-64bit.deb hugo_0.92.0_Linux-64bit.tar.gz hugo_0.92.0_Linux-ARM.tar.gz
    hugo_0.92.0_Linux-ARM64.tar.gz hugo_0.92.0_macOS-64bit.tar.gz hugo_0.92.0_macOS-ARM64.tar.gz
    hugo_0.92.0_Windows-32bit.zip hugo_0.92.0_Windows-64bit.zip hugo_0.92.0_Windows-ARM.zip
    hugo_extended_0.92.0_Linux-64bit.tar.gz hugo_extended_0.92.0_macOS-64bit.tar.gz
    hugo_extended_0.92.0_macOS-ARM64.tar.gz hugo_extended_0.92.0_Windows-64bit.zip";

/// `deno` and `denort` side by side, a source tarball and a TypeScript declaration file.
const DENO: &str = "
    deno-aarch64-apple-darwin.zip deno-aarch64-apple-darwin.zip.sha256sum deno-aarch64-unknown-linux-gnu.zip
    deno-aarch64-unknown-linux-gnu.zip.sha256sum deno-x86_64-apple-darwin.zip
    deno-x86_64-apple-darwin.zip.sha256sum deno-x86_64-pc-windows-msvc.zip
    deno-x86_64-pc-windows-msvc.zip.sha256sum deno-x86_64-unknown-linux-gnu.zip
    deno-x86_64-unknown-linux-gnu.zip.sha256sum denort-aarch64-apple-darwin.zip
    denort-aarch64-unknown-linux-gnu.zip denort-x86_64-apple-darwin.zip denort-x86_64-pc-windows-msvc.zip
    denort-x86_64-unknown-linux-gnu.zip deno_src.tar.gz lib.deno.d.ts";

/// Plain, `baseline`, `profile` and `musl` variants.
const BUN: &str = "
    SHASUMS256.txt SHASUMS256.txt.asc bun-darwin-aarch64-profile.zip bun-darwin-aarch64.zip
    bun-darwin-x64-baseline-profile.zip bun-darwin-x64-baseline.zip bun-darwin-x64-profile.zip
    bun-darwin-x64.zip bun-linux-aarch64-musl-profile.zip bun-linux-aarch64-musl.zip
    bun-linux-aarch64-profile.zip bun-linux-aarch64.zip bun-linux-x64-baseline-profile.zip
    bun-linux-x64-baseline.zip bun-linux-x64-musl-baseline-profile.zip bun-linux-x64-musl-baseline.zip
    bun-linux-x64-musl-profile.zip bun-linux-x64-musl.zip bun-linux-x64-profile.zip bun-linux-x64.zip
    bun-windows-x64-baseline-profile.zip bun-windows-x64-baseline.zip bun-windows-x64-profile.zip
    bun-windows-x64.zip";

const NODE: &str = "
    SHASUMS256.txt SHASUMS256.txt.asc SHASUMS256.txt.sig node-v22.12.0-aix-ppc64.tar.gz
    node-v22.12.0-darwin-arm64.tar.gz node-v22.12.0-darwin-arm64.tar.xz node-v22.12.0-darwin-x64.tar.gz
    node-v22.12.0-darwin-x64.tar.xz node-v22.12.0-headers.tar.gz node-v22.12.0-headers.tar.xz
    node-v22.12.0-linux-arm64.tar.gz node-v22.12.0-linux-arm64.tar.xz node-v22.12.0-linux-armv7l.tar.gz
    node-v22.12.0-linux-armv7l.tar.xz node-v22.12.0-linux-ppc64le.tar.xz node-v22.12.0-linux-s390x.tar.xz
    node-v22.12.0-linux-x64.tar.gz node-v22.12.0-linux-x64.tar.xz node-v22.12.0-win-arm64.7z
    node-v22.12.0-win-arm64.zip node-v22.12.0-win-x64.7z node-v22.12.0-win-x64.zip node-v22.12.0-win-x86.7z
    node-v22.12.0-win-x86.zip node-v22.12.0-x64.msi node-v22.12.0-x86.msi node-v22.12.0.pkg
    node-v22.12.0.tar.gz node-v22.12.0.tar.xz";

/// `x86` (32-bit) next to `x86_64`; a source and a bootstrap tarball.
const ZIG: &str = "
    zig-0.13.0.tar.xz zig-0.13.0.tar.xz.minisig zig-bootstrap-0.13.0.tar.xz zig-freebsd-x86_64-0.13.0.tar.xz
    zig-linux-aarch64-0.13.0.tar.xz zig-linux-armv7a-0.13.0.tar.xz zig-linux-powerpc64le-0.13.0.tar.xz
    zig-linux-riscv64-0.13.0.tar.xz zig-linux-x86-0.13.0.tar.xz zig-linux-x86_64-0.13.0.tar.xz
    zig-linux-x86_64-0.13.0.tar.xz.minisig zig-macos-aarch64-0.13.0.tar.xz zig-macos-x86_64-0.13.0.tar.xz
    zig-windows-aarch64-0.13.0.zip zig-windows-x86-0.13.0.zip zig-windows-x86_64-0.13.0.zip";

/// Neovim 0.10: `linux64`, `win64`, AppImages, and no Linux arm64 build.
const NEOVIM_0_10: &str = "
    nvim-linux64.tar.gz nvim-linux64.tar.gz.sha256sum nvim-macos-arm64.tar.gz
    nvim-macos-arm64.tar.gz.sha256sum nvim-macos-x86_64.tar.gz nvim-macos-x86_64.tar.gz.sha256sum
    nvim-win64.msi nvim-win64.msi.sha256sum nvim-win64.zip nvim-win64.zip.sha256sum nvim.appimage
    nvim.appimage.sha256sum nvim.appimage.zsync nvim.appimage.zsync.sha256sum";

const NEOVIM_0_11: &str = "
    nvim-linux-arm64.appimage nvim-linux-arm64.appimage.zsync nvim-linux-arm64.tar.gz
    nvim-linux-x86_64.appimage nvim-linux-x86_64.appimage.zsync nvim-linux-x86_64.tar.gz
    nvim-macos-arm64.tar.gz nvim-macos-x86_64.tar.gz nvim-win64.msi nvim-win64.zip shasum.txt";

/// goreleaser with capitalised OS names and `32-bit`.
const LAZYGIT: &str = "
    checksums.txt lazygit_0.44.1_Darwin_arm64.tar.gz lazygit_0.44.1_Darwin_x86_64.tar.gz
    lazygit_0.44.1_freebsd_32-bit.tar.gz lazygit_0.44.1_freebsd_arm64.tar.gz
    lazygit_0.44.1_freebsd_x86_64.tar.gz lazygit_0.44.1_Linux_32-bit.tar.gz
    lazygit_0.44.1_Linux_arm64.tar.gz lazygit_0.44.1_Linux_armv6.tar.gz lazygit_0.44.1_Linux_x86_64.tar.gz
    lazygit_0.44.1_Windows_32-bit.zip lazygit_0.44.1_Windows_arm64.zip lazygit_0.44.1_Windows_armv6.zip
    lazygit_0.44.1_Windows_x86_64.zip";

const STARSHIP: &str = "
    starship-aarch64-apple-darwin.tar.gz starship-aarch64-apple-darwin.tar.gz.sha256
    starship-aarch64-pc-windows-msvc.msi starship-aarch64-pc-windows-msvc.zip
    starship-aarch64-unknown-linux-musl.tar.gz starship-arm-unknown-linux-musleabihf.tar.gz
    starship-i686-pc-windows-msvc.msi starship-i686-pc-windows-msvc.zip
    starship-i686-unknown-linux-musl.tar.gz starship-x86_64-apple-darwin.tar.gz
    starship-x86_64-pc-windows-msvc.msi starship-x86_64-pc-windows-msvc.zip
    starship-x86_64-unknown-freebsd.tar.gz starship-x86_64-unknown-linux-gnu.tar.gz
    starship-x86_64-unknown-linux-musl.tar.gz";

/// Only a gnu build for Linux arm64.
const DELTA: &str = "
    delta-0.18.2-aarch64-apple-darwin.tar.gz delta-0.18.2-aarch64-unknown-linux-gnu.tar.gz
    delta-0.18.2-arm-unknown-linux-gnueabihf.tar.gz delta-0.18.2-i686-unknown-linux-gnu.tar.gz
    delta-0.18.2-x86_64-apple-darwin.tar.gz delta-0.18.2-x86_64-pc-windows-msvc.zip
    delta-0.18.2-x86_64-unknown-linux-gnu.tar.gz delta-0.18.2-x86_64-unknown-linux-musl.tar.gz
    git-delta-musl_0.18.2_amd64.deb git-delta_0.18.2_amd64.deb git-delta_0.18.2_arm64.deb
    git-delta_0.18.2_armhf.deb git-delta_0.18.2_i386.deb";

/// No macOS builds; Windows only through MinGW; completions and man pages.
const EZA: &str = "
    completions-0.20.13.tar.gz eza_aarch64-unknown-linux-gnu.tar.gz eza_aarch64-unknown-linux-gnu.zip
    eza_arm-unknown-linux-gnueabihf.tar.gz eza_arm-unknown-linux-gnueabihf.zip
    eza_x86_64-pc-windows-gnu.tar.gz eza_x86_64-pc-windows-gnu.zip eza_x86_64-unknown-linux-gnu.tar.gz
    eza_x86_64-unknown-linux-gnu.zip eza_x86_64-unknown-linux-musl.tar.gz eza_x86_64-unknown-linux-musl.zip
    man-0.20.13.tar.gz";

/// `aarch64-linux-android` must not pass for Linux.
const ZOXIDE: &str = "
    zoxide-0.9.6-aarch64-apple-darwin.tar.gz zoxide-0.9.6-aarch64-linux-android.tar.gz
    zoxide-0.9.6-aarch64-pc-windows-msvc.zip zoxide-0.9.6-aarch64-unknown-linux-musl.tar.gz
    zoxide-0.9.6-arm-unknown-linux-musleabihf.tar.gz zoxide-0.9.6-armv7-unknown-linux-musleabihf.tar.gz
    zoxide-0.9.6-i686-unknown-linux-musl.tar.gz zoxide-0.9.6-x86_64-apple-darwin.tar.gz
    zoxide-0.9.6-x86_64-pc-windows-msvc.zip zoxide-0.9.6-x86_64-unknown-linux-musl.tar.gz
    zoxide_0.9.6-1_amd64.deb zoxide_0.9.6-1_arm64.deb zoxide_0.9.6-1_armhf.deb zoxide_0.9.6-1_i386.deb";

const FZF: &str = "
    fzf-0.57.0-android_arm64.tar.gz fzf-0.57.0-darwin_amd64.tar.gz fzf-0.57.0-darwin_arm64.tar.gz
    fzf-0.57.0-freebsd_amd64.tar.gz fzf-0.57.0-linux_amd64.tar.gz fzf-0.57.0-linux_arm64.tar.gz
    fzf-0.57.0-linux_armv5.tar.gz fzf-0.57.0-linux_armv6.tar.gz fzf-0.57.0-linux_armv7.tar.gz
    fzf-0.57.0-linux_loong64.tar.gz fzf-0.57.0-linux_ppc64le.tar.gz fzf-0.57.0-linux_s390x.tar.gz
    fzf-0.57.0-openbsd_amd64.tar.gz fzf-0.57.0-windows_amd64.zip fzf-0.57.0-windows_arm64.zip
    fzf-0.57.0-windows_armv5.zip fzf-0.57.0-windows_armv6.zip fzf-0.57.0-windows_armv7.zip
    fzf_0.57.0_checksums.txt";

const JUST: &str = "
    SHA256SUMS just-1.38.0-aarch64-apple-darwin.tar.gz just-1.38.0-aarch64-pc-windows-msvc.zip
    just-1.38.0-aarch64-unknown-linux-musl.tar.gz just-1.38.0-arm-unknown-linux-musleabihf.tar.gz
    just-1.38.0-armv7-unknown-linux-musleabihf.tar.gz just-1.38.0-x86_64-apple-darwin.tar.gz
    just-1.38.0-x86_64-pc-windows-msvc.zip just-1.38.0-x86_64-unknown-linux-musl.tar.gz";

/// cargo-dist: installer scripts, a manifest, `sha256.sum`, `source.tar.gz`.
const UV: &str = "
    dist-manifest.json sha256.sum source.tar.gz source.tar.gz.sha256 uv-aarch64-apple-darwin.tar.gz
    uv-aarch64-apple-darwin.tar.gz.sha256 uv-aarch64-pc-windows-msvc.zip uv-aarch64-unknown-linux-gnu.tar.gz
    uv-aarch64-unknown-linux-musl.tar.gz uv-arm-unknown-linux-musleabihf.tar.gz
    uv-armv7-unknown-linux-gnueabihf.tar.gz uv-armv7-unknown-linux-musleabihf.tar.gz
    uv-i686-pc-windows-msvc.zip uv-i686-unknown-linux-gnu.tar.gz uv-i686-unknown-linux-musl.tar.gz
    uv-installer.ps1 uv-installer.sh uv-powerpc64-unknown-linux-gnu.tar.gz
    uv-powerpc64le-unknown-linux-gnu.tar.gz uv-s390x-unknown-linux-gnu.tar.gz uv-x86_64-apple-darwin.tar.gz
    uv-x86_64-pc-windows-msvc.zip uv-x86_64-unknown-linux-gnu.tar.gz uv-x86_64-unknown-linux-musl.tar.gz";

const RUFF: &str = "
    dist-manifest.json ruff-aarch64-apple-darwin.tar.gz ruff-aarch64-apple-darwin.tar.gz.sha256
    ruff-aarch64-pc-windows-msvc.zip ruff-aarch64-unknown-linux-gnu.tar.gz
    ruff-aarch64-unknown-linux-musl.tar.gz ruff-arm-unknown-linux-musleabihf.tar.gz
    ruff-armv7-unknown-linux-gnueabihf.tar.gz ruff-armv7-unknown-linux-musleabihf.tar.gz
    ruff-i686-pc-windows-msvc.zip ruff-i686-unknown-linux-gnu.tar.gz ruff-i686-unknown-linux-musl.tar.gz
    ruff-installer.ps1 ruff-installer.sh ruff-powerpc64-unknown-linux-gnu.tar.gz
    ruff-powerpc64le-unknown-linux-gnu.tar.gz ruff-s390x-unknown-linux-gnu.tar.gz
    ruff-x86_64-apple-darwin.tar.gz ruff-x86_64-pc-windows-msvc.zip ruff-x86_64-unknown-linux-gnu.tar.gz
    ruff-x86_64-unknown-linux-musl.tar.gz sha256.sum source.tar.gz source.tar.gz.sha256";

/// goreleaser defaults: `Darwin_all` universal binary, nfpm packages, SBOMs, signed checksums.
const GORELEASER: &str = "
    checksums.txt checksums.txt.pem checksums.txt.sig multiple.intoto.jsonl tool_1.2.3_Darwin_all.tar.gz
    tool_1.2.3_Darwin_arm64.tar.gz tool_1.2.3_Darwin_x86_64.tar.gz tool_1.2.3_Linux_arm64.tar.gz
    tool_1.2.3_Linux_armv6.tar.gz tool_1.2.3_Linux_i386.tar.gz tool_1.2.3_Linux_x86_64.tar.gz
    tool_1.2.3_Linux_x86_64.tar.gz.sbom.json tool_1.2.3_Windows_arm64.zip tool_1.2.3_Windows_i386.zip
    tool_1.2.3_Windows_x86_64.zip tool_1.2.3_linux_amd64.apk tool_1.2.3_linux_amd64.deb
    tool_1.2.3_linux_amd64.pkg.tar.zst tool_1.2.3_linux_amd64.rpm";

/// Only a universal binary for macOS, nothing for Linux arm64.
const GORELEASER_UNIVERSAL: &str =
    "checksums.txt tool_2.0.0_Darwin_all.tar.gz tool_2.0.0_Linux_x86_64.tar.gz tool_2.0.0_Windows_x86_64.zip";

const MACOS_UNIVERSAL_WORD: &str =
    "tool-v3.0.0-linux-x86_64.tar.gz tool-v3.0.0-macos-arm64.tar.gz tool-v3.0.0-macos-universal.tar.gz";

/// OS words without architectures, next to the source tarball.
const OS_ONLY: &str = "tool-1.0.0-linux.tar.gz tool-1.0.0-macos.zip tool-1.0.0-windows.zip tool-1.0.0.tar.gz";

/// Rust target triples.
const TRIPLES: &str = "
    tool-aarch64-apple-darwin.tar.gz tool-aarch64-pc-windows-msvc.zip tool-aarch64-unknown-linux-gnu.tar.gz
    tool-x86_64-apple-darwin.tar.gz tool-x86_64-pc-windows-gnu.zip tool-x86_64-pc-windows-msvc.zip
    tool-x86_64-unknown-linux-gnu.tar.gz tool-x86_64-unknown-linux-musl.tar.gz";

/// Nothing velo can install: system packages and installers only.
const INSTALLERS_ONLY: &str = "
    tool-1.0.0.dmg tool-1.0.0.x86_64.rpm tool-1.0.0-x86_64.AppImage tool-setup-1.0.0.exe
    tool_1.0.0_amd64.deb tool_1.0.0_amd64.snap tool-1.0.0-x64.msi tool-1.0.0.flatpak";

/// Linux builds for architectures velo does not target, and 32-bit ones.
const EXOTIC_LINUX: &str = "
    tool-freebsd-amd64.tar.gz tool-linux-386.tar.gz tool-linux-armv7.tar.gz tool-linux-ppc64le.tar.gz
    tool-linux-riscv64.tar.gz tool-linux-s390x.tar.gz";

const WINDOWS_32BIT_ONLY: &str = "tool-i686-pc-windows-msvc.zip tool-x86_64-unknown-linux-gnu.tar.gz";

/// sops: dotted names, bare executables whose "extension" is the platform, an `.exe`.
const SOPS: &str = "
    sops-3.9.2-1.aarch64.rpm sops-3.9.2-1.x86_64.rpm sops-v3.9.2.checksums.pem sops-v3.9.2.checksums.sig
    sops-v3.9.2.checksums.txt sops-v3.9.2.darwin sops-v3.9.2.darwin.amd64 sops-v3.9.2.darwin.arm64
    sops-v3.9.2.exe sops-v3.9.2.linux sops-v3.9.2.linux.amd64 sops-v3.9.2.linux.arm64 sops_3.9.2_amd64.deb
    sops_3.9.2_arm64.deb";

/// Prometheus: version and platform joined by a dot.
const NODE_EXPORTER: &str = "
    node_exporter-1.8.2.darwin-amd64.tar.gz node_exporter-1.8.2.darwin-arm64.tar.gz
    node_exporter-1.8.2.linux-386.tar.gz node_exporter-1.8.2.linux-amd64.tar.gz
    node_exporter-1.8.2.linux-arm64.tar.gz node_exporter-1.8.2.linux-armv5.tar.gz
    node_exporter-1.8.2.linux-armv6.tar.gz node_exporter-1.8.2.linux-armv7.tar.gz
    node_exporter-1.8.2.linux-mips.tar.gz node_exporter-1.8.2.linux-ppc64le.tar.gz
    node_exporter-1.8.2.linux-s390x.tar.gz node_exporter-1.8.2.netbsd-amd64.tar.gz
    node_exporter-1.8.2.openbsd-amd64.tar.gz sha256sums.txt";

/// A version component that spells an architecture (`386`) must not count as one.
const VERSION_386: &str =
    "tool-1.386.0-linux.tar.gz tool-1.386.0-darwin-arm64.tar.gz tool-1.386.0-windows-amd64.zip";

/// The Windows zip names no platform at all: only a pattern can pick it.
const SHELLCHECK: &str = "
    shellcheck-v0.10.0.darwin.aarch64.tar.xz shellcheck-v0.10.0.darwin.x86_64.tar.xz
    shellcheck-v0.10.0.linux.aarch64.tar.xz shellcheck-v0.10.0.linux.armv6hf.tar.xz
    shellcheck-v0.10.0.linux.riscv64.tar.xz shellcheck-v0.10.0.linux.x86_64.tar.xz shellcheck-v0.10.0.zip";

/// A glibc-2.17 variant, an MSI, and archives of completions and man pages.
const BOTTOM: &str = "
    bottom_0.10.2-1_amd64.deb bottom_aarch64-apple-darwin.tar.gz bottom_aarch64-unknown-linux-gnu.tar.gz
    bottom_aarch64-unknown-linux-musl.tar.gz bottom_x86_64-apple-darwin.tar.gz
    bottom_x86_64-pc-windows-msvc.zip bottom_x86_64-unknown-linux-gnu.tar.gz
    bottom_x86_64-unknown-linux-gnu2-17.tar.gz bottom_x86_64-unknown-linux-musl.tar.gz
    bottom_x86_64_installer.msi choco.zip completion.tar.gz manpage.tar.gz";

/// Every format of the same build.
const MISE: &str = "
    SHASUMS256.asc SHASUMS256.txt SHASUMS512.asc SHASUMS512.txt install.sh install.sh.sig
    mise-v2024.12.14-linux-arm64 mise-v2024.12.14-linux-arm64-musl mise-v2024.12.14-linux-arm64-musl.tar.gz
    mise-v2024.12.14-linux-arm64.tar.gz mise-v2024.12.14-linux-arm64.tar.xz
    mise-v2024.12.14-linux-arm64.tar.zst mise-v2024.12.14-linux-armv7 mise-v2024.12.14-linux-x64
    mise-v2024.12.14-linux-x64-musl mise-v2024.12.14-linux-x64-musl.tar.gz
    mise-v2024.12.14-linux-x64-musl.tar.xz mise-v2024.12.14-linux-x64-musl.tar.zst
    mise-v2024.12.14-linux-x64.tar.gz mise-v2024.12.14-linux-x64.tar.xz mise-v2024.12.14-linux-x64.tar.zst
    mise-v2024.12.14-macos-arm64 mise-v2024.12.14-macos-arm64.tar.gz mise-v2024.12.14-macos-arm64.tar.xz
    mise-v2024.12.14-macos-x64 mise-v2024.12.14-macos-x64.tar.gz mise-v2024.12.14-windows-arm64.zip
    mise-v2024.12.14-windows-x64.zip";

const K9S: &str = "
    checksums.sha256 k9s_Darwin_amd64.tar.gz k9s_Darwin_arm64.tar.gz k9s_Freebsd_amd64.tar.gz
    k9s_Linux_amd64.tar.gz k9s_Linux_amd64.tar.gz.sbom.json k9s_Linux_arm64.tar.gz k9s_Linux_armv7.tar.gz
    k9s_Linux_ppc64le.tar.gz k9s_Linux_s390x.tar.gz k9s_Windows_amd64.zip k9s_Windows_arm64.zip
    k9s_linux_amd64.apk k9s_linux_amd64.deb k9s_linux_amd64.rpm";

/// Keyless signatures and certificates next to bare executables; a PIV-key variant.
const COSIGN: &str = "
    cosign-2.4.1-1.x86_64.rpm cosign-darwin-amd64 cosign-darwin-amd64-keyless.pem
    cosign-darwin-amd64-keyless.sig cosign-darwin-amd64.sig cosign-darwin-arm64 cosign-darwin-arm64.sig
    cosign-linux-amd64 cosign-linux-amd64-keyless.pem cosign-linux-amd64-keyless.sig cosign-linux-amd64.sig
    cosign-linux-arm cosign-linux-arm64 cosign-linux-pivkey-pkcs11key-amd64 cosign-linux-ppc64le
    cosign-linux-s390x cosign-windows-amd64.exe cosign-windows-amd64.exe.sig cosign_2.4.1_amd64.deb
    cosign_checksums.txt release-cosign.pub";

/// HashiCorp: `_SHA256SUMS` with signatures, solaris and freebsd builds.
const TERRAFORM: &str = "
    terraform_1.9.8_SHA256SUMS terraform_1.9.8_SHA256SUMS.72D7468F.sig terraform_1.9.8_SHA256SUMS.sig
    terraform_1.9.8_darwin_amd64.zip terraform_1.9.8_darwin_arm64.zip terraform_1.9.8_freebsd_amd64.zip
    terraform_1.9.8_linux_386.zip terraform_1.9.8_linux_amd64.zip terraform_1.9.8_linux_arm.zip
    terraform_1.9.8_linux_arm64.zip terraform_1.9.8_solaris_amd64.zip terraform_1.9.8_windows_386.zip
    terraform_1.9.8_windows_amd64.zip";

/// Debug symbols and debug builds next to the real ones, and an editor extension.
const WITH_DEBUG: &str = "
    tool-1.0.0-aarch64-apple-darwin.dSYM.zip tool-1.0.0-aarch64-apple-darwin.tar.gz
    tool-1.0.0-x86_64-pc-windows-msvc.pdb tool-1.0.0-x86_64-pc-windows-msvc.zip
    tool-1.0.0-x86_64-unknown-linux-gnu-debug.tar.gz tool-1.0.0-x86_64-unknown-linux-gnu.tar.gz
    tool-vscode-1.0.0.vsix";

/// Electron style: `win32` is the platform, the architecture comes after it.
const ELECTRON_STYLE: &str = "
    tool-darwin-arm64.zip tool-darwin-x64.zip tool-linux-arm64.tar.gz tool-linux-armv7l.tar.gz
    tool-linux-x64.tar.gz tool-win32-arm64.zip tool-win32-ia32.zip tool-win32-x64.zip";

/// `mac-intel` / `mac-arm` (Apple never made a 32-bit ARM Mac), and a Windows build without an
/// architecture.
const MAC_INTEL_ARM: &str = "Tool-linux-amd64.tar.gz Tool-mac-arm.zip Tool-mac-intel.zip Tool-windows.zip";

const SPELLED_BITS: &str = "
    tool-1.0-linux-32-bit.tar.gz tool-1.0-linux-64-bit.tar.gz tool-1.0-macos-64-bit.zip
    tool-1.0-windows-64-bit.zip";

/// No asset names an OS: architectures alone decide (no `.exe`, so nothing for Windows).
const ARCH_ONLY: &str = "tool-amd64 tool-arm64 tool-armv7 tool-amd64.sha256";

/// An asset naming only an architecture, among assets that name an OS.
const MIXED_ARCH_ONLY: &str = "tool-darwin-amd64.tar.gz tool-linux-amd64.tar.gz tool-arm64.tar.gz";

/// An asset naming an OS outranks one naming only an architecture.
const OS_BEATS_ARCH_ONLY: &str = "tool-linux.tar.gz tool-windows-x86_64.zip tool-x86_64.tar.gz";

/// A single bare executable and its checksum: no platform anywhere.
const SINGLE_BINARY: &str = "mytool mytool.sha256";

const MINGW: &str = "tool-1.0-i686-w64-mingw32.zip tool-1.0-x86_64-w64-mingw32.zip tool-1.0.tar.gz";

/// A static build next to a build whose libc the name does not say.
const STATIC: &str = "tool-linux-x86_64-static.tar.gz tool-linux-x86_64.tar.gz tool-macos-arm64.tar.gz";

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

/// Preferences a row runs with.
#[derive(Debug, Clone, Copy)]
enum Prefs {
    Default,
    /// `prefer_musl: false`.
    Gnu,
    /// `allow_32bit_fallback: true`.
    Allow32,
}

impl Prefs {
    fn get(self) -> Preferences {
        match self {
            Prefs::Default => Preferences::default(),
            Prefs::Gnu => Preferences {
                prefer_musl: false,
                ..Preferences::default()
            },
            Prefs::Allow32 => Preferences {
                allow_32bit_fallback: true,
                ..Preferences::default()
            },
        }
    }
}

use Prefs::{Allow32, Default as D, Gnu};

const TABLE: &[(&str, &str, Platform, Prefs, Option<&str>)] = &[
    (
        "ripgrep",
        RIPGREP,
        L,
        D,
        Some("ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "ripgrep",
        RIPGREP,
        LA,
        D,
        Some("ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz"),
    ),
    (
        "ripgrep",
        RIPGREP,
        M,
        D,
        Some("ripgrep-14.1.1-x86_64-apple-darwin.tar.gz"),
    ),
    (
        "ripgrep",
        RIPGREP,
        MA,
        D,
        Some("ripgrep-14.1.1-aarch64-apple-darwin.tar.gz"),
    ),
    (
        "ripgrep",
        RIPGREP,
        W,
        D,
        Some("ripgrep-14.1.1-x86_64-pc-windows-msvc.zip"),
    ),
    (
        "fd",
        FD,
        L,
        D,
        Some("fd-v10.2.0-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "fd",
        FD,
        L,
        Gnu,
        Some("fd-v10.2.0-x86_64-unknown-linux-gnu.tar.gz"),
    ),
    (
        "fd",
        FD,
        LA,
        D,
        Some("fd-v10.2.0-aarch64-unknown-linux-musl.tar.gz"),
    ),
    ("fd", FD, MA, D, Some("fd-v10.2.0-aarch64-apple-darwin.tar.gz")),
    ("fd", FD, W, D, Some("fd-v10.2.0-x86_64-pc-windows-msvc.zip")),
    (
        "bat",
        BAT,
        L,
        D,
        Some("bat-v0.24.0-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "bat",
        BAT,
        LA,
        D,
        Some("bat-v0.24.0-aarch64-unknown-linux-gnu.tar.gz"),
    ),
    ("bat", BAT, M, D, Some("bat-v0.24.0-x86_64-apple-darwin.tar.gz")),
    ("bat", BAT, MA, D, None),
    ("bat", BAT, W, D, Some("bat-v0.24.0-x86_64-pc-windows-msvc.zip")),
    ("jq", JQ, L, D, Some("jq-linux64")),
    ("jq", JQ, LA, D, Some("jq-linux-arm64")),
    ("jq", JQ, M, D, Some("jq-osx-amd64")),
    ("jq", JQ, MA, D, Some("jq-macos-arm64")),
    ("jq", JQ, W, D, Some("jq-win64.exe")),
    ("yq", YQ, L, D, Some("yq_linux_amd64.tar.gz")),
    ("yq", YQ, LA, D, Some("yq_linux_arm64.tar.gz")),
    ("yq", YQ, MA, D, Some("yq_darwin_arm64.tar.gz")),
    ("yq", YQ, W, D, Some("yq_windows_amd64.zip")),
    ("gh", GH, L, D, Some("gh_2.63.2_linux_amd64.tar.gz")),
    ("gh", GH, LA, D, Some("gh_2.63.2_linux_arm64.tar.gz")),
    ("gh", GH, M, D, Some("gh_2.63.2_macOS_amd64.zip")),
    ("gh", GH, MA, D, Some("gh_2.63.2_macOS_arm64.zip")),
    ("gh", GH, W, D, Some("gh_2.63.2_windows_amd64.zip")),
    ("kind", KIND, L, D, Some("kind-linux-amd64")),
    ("kind", KIND, MA, D, Some("kind-darwin-arm64")),
    ("kind", KIND, W, D, Some("kind-windows-amd64")),
    ("minikube", MINIKUBE, L, D, Some("minikube-linux-amd64.tar.gz")),
    ("minikube", MINIKUBE, LA, D, Some("minikube-linux-arm64.tar.gz")),
    ("minikube", MINIKUBE, W, D, Some("minikube-windows-amd64.exe")),
    ("helm", HELM, L, D, Some("helm-v3.16.3-linux-amd64.tar.gz")),
    ("helm", HELM, MA, D, Some("helm-v3.16.3-darwin-arm64.tar.gz")),
    ("helm", HELM, W, D, Some("helm-v3.16.3-windows-amd64.zip")),
    ("helm signatures", HELM_SIGNATURES_ONLY, L, D, None),
    ("helm signatures", HELM_SIGNATURES_ONLY, MA, D, None),
    ("hugo", HUGO, L, D, Some("hugo_0.140.0_linux-amd64.tar.gz")),
    ("hugo", HUGO, LA, D, Some("hugo_0.140.0_linux-arm64.tar.gz")),
    ("hugo", HUGO, M, D, Some("hugo_0.140.0_darwin-universal.tar.gz")),
    ("hugo", HUGO, MA, D, Some("hugo_0.140.0_darwin-universal.tar.gz")),
    ("hugo", HUGO, W, D, Some("hugo_0.140.0_windows-amd64.zip")),
    (
        "hugo 0.92",
        HUGO_OLD,
        L,
        D,
        Some("hugo_0.92.0_Linux-64bit.tar.gz"),
    ),
    (
        "hugo 0.92",
        HUGO_OLD,
        LA,
        D,
        Some("hugo_0.92.0_Linux-ARM64.tar.gz"),
    ),
    (
        "hugo 0.92",
        HUGO_OLD,
        M,
        D,
        Some("hugo_0.92.0_macOS-64bit.tar.gz"),
    ),
    (
        "hugo 0.92",
        HUGO_OLD,
        MA,
        D,
        Some("hugo_0.92.0_macOS-ARM64.tar.gz"),
    ),
    ("hugo 0.92", HUGO_OLD, W, D, Some("hugo_0.92.0_Windows-64bit.zip")),
    ("deno", DENO, L, D, Some("deno-x86_64-unknown-linux-gnu.zip")),
    ("deno", DENO, LA, D, Some("deno-aarch64-unknown-linux-gnu.zip")),
    ("deno", DENO, MA, D, Some("deno-aarch64-apple-darwin.zip")),
    ("deno", DENO, W, D, Some("deno-x86_64-pc-windows-msvc.zip")),
    ("bun", BUN, L, D, Some("bun-linux-x64-musl.zip")),
    ("bun", BUN, L, Gnu, Some("bun-linux-x64.zip")),
    ("bun", BUN, LA, Gnu, Some("bun-linux-aarch64.zip")),
    ("bun", BUN, M, D, Some("bun-darwin-x64.zip")),
    ("bun", BUN, MA, D, Some("bun-darwin-aarch64.zip")),
    ("bun", BUN, W, D, Some("bun-windows-x64.zip")),
    ("node", NODE, L, D, Some("node-v22.12.0-linux-x64.tar.gz")),
    ("node", NODE, LA, D, Some("node-v22.12.0-linux-arm64.tar.gz")),
    ("node", NODE, M, D, Some("node-v22.12.0-darwin-x64.tar.gz")),
    ("node", NODE, MA, D, Some("node-v22.12.0-darwin-arm64.tar.gz")),
    ("node", NODE, W, D, Some("node-v22.12.0-win-x64.zip")),
    ("zig", ZIG, L, D, Some("zig-linux-x86_64-0.13.0.tar.xz")),
    ("zig", ZIG, LA, D, Some("zig-linux-aarch64-0.13.0.tar.xz")),
    ("zig", ZIG, MA, D, Some("zig-macos-aarch64-0.13.0.tar.xz")),
    ("zig", ZIG, W, D, Some("zig-windows-x86_64-0.13.0.zip")),
    ("neovim 0.10", NEOVIM_0_10, L, D, Some("nvim-linux64.tar.gz")),
    ("neovim 0.10", NEOVIM_0_10, LA, D, None),
    ("neovim 0.10", NEOVIM_0_10, M, D, Some("nvim-macos-x86_64.tar.gz")),
    ("neovim 0.10", NEOVIM_0_10, MA, D, Some("nvim-macos-arm64.tar.gz")),
    ("neovim 0.10", NEOVIM_0_10, W, D, Some("nvim-win64.zip")),
    ("neovim 0.11", NEOVIM_0_11, L, D, Some("nvim-linux-x86_64.tar.gz")),
    ("neovim 0.11", NEOVIM_0_11, LA, D, Some("nvim-linux-arm64.tar.gz")),
    (
        "lazygit",
        LAZYGIT,
        L,
        D,
        Some("lazygit_0.44.1_Linux_x86_64.tar.gz"),
    ),
    (
        "lazygit",
        LAZYGIT,
        LA,
        D,
        Some("lazygit_0.44.1_Linux_arm64.tar.gz"),
    ),
    (
        "lazygit",
        LAZYGIT,
        MA,
        D,
        Some("lazygit_0.44.1_Darwin_arm64.tar.gz"),
    ),
    (
        "lazygit",
        LAZYGIT,
        W,
        D,
        Some("lazygit_0.44.1_Windows_x86_64.zip"),
    ),
    (
        "starship",
        STARSHIP,
        L,
        D,
        Some("starship-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "starship",
        STARSHIP,
        L,
        Gnu,
        Some("starship-x86_64-unknown-linux-gnu.tar.gz"),
    ),
    (
        "starship",
        STARSHIP,
        LA,
        Gnu,
        Some("starship-aarch64-unknown-linux-musl.tar.gz"),
    ),
    (
        "starship",
        STARSHIP,
        M,
        D,
        Some("starship-x86_64-apple-darwin.tar.gz"),
    ),
    (
        "starship",
        STARSHIP,
        W,
        D,
        Some("starship-x86_64-pc-windows-msvc.zip"),
    ),
    (
        "delta",
        DELTA,
        L,
        D,
        Some("delta-0.18.2-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "delta",
        DELTA,
        LA,
        D,
        Some("delta-0.18.2-aarch64-unknown-linux-gnu.tar.gz"),
    ),
    (
        "delta",
        DELTA,
        MA,
        D,
        Some("delta-0.18.2-aarch64-apple-darwin.tar.gz"),
    ),
    (
        "delta",
        DELTA,
        W,
        D,
        Some("delta-0.18.2-x86_64-pc-windows-msvc.zip"),
    ),
    ("eza", EZA, L, D, Some("eza_x86_64-unknown-linux-musl.tar.gz")),
    ("eza", EZA, LA, D, Some("eza_aarch64-unknown-linux-gnu.tar.gz")),
    ("eza", EZA, MA, D, None),
    ("eza", EZA, W, D, Some("eza_x86_64-pc-windows-gnu.zip")),
    (
        "zoxide",
        ZOXIDE,
        LA,
        D,
        Some("zoxide-0.9.6-aarch64-unknown-linux-musl.tar.gz"),
    ),
    (
        "zoxide",
        ZOXIDE,
        MA,
        D,
        Some("zoxide-0.9.6-aarch64-apple-darwin.tar.gz"),
    ),
    (
        "zoxide",
        ZOXIDE,
        W,
        D,
        Some("zoxide-0.9.6-x86_64-pc-windows-msvc.zip"),
    ),
    ("fzf", FZF, L, D, Some("fzf-0.57.0-linux_amd64.tar.gz")),
    ("fzf", FZF, LA, D, Some("fzf-0.57.0-linux_arm64.tar.gz")),
    ("fzf", FZF, M, D, Some("fzf-0.57.0-darwin_amd64.tar.gz")),
    ("fzf", FZF, W, D, Some("fzf-0.57.0-windows_amd64.zip")),
    (
        "just",
        JUST,
        L,
        D,
        Some("just-1.38.0-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "just",
        JUST,
        MA,
        D,
        Some("just-1.38.0-aarch64-apple-darwin.tar.gz"),
    ),
    ("just", JUST, W, D, Some("just-1.38.0-x86_64-pc-windows-msvc.zip")),
    ("uv", UV, L, D, Some("uv-x86_64-unknown-linux-musl.tar.gz")),
    ("uv", UV, L, Gnu, Some("uv-x86_64-unknown-linux-gnu.tar.gz")),
    ("uv", UV, LA, D, Some("uv-aarch64-unknown-linux-musl.tar.gz")),
    ("uv", UV, MA, D, Some("uv-aarch64-apple-darwin.tar.gz")),
    ("uv", UV, W, D, Some("uv-x86_64-pc-windows-msvc.zip")),
    ("ruff", RUFF, L, D, Some("ruff-x86_64-unknown-linux-musl.tar.gz")),
    ("ruff", RUFF, M, D, Some("ruff-x86_64-apple-darwin.tar.gz")),
    ("ruff", RUFF, W, D, Some("ruff-x86_64-pc-windows-msvc.zip")),
    (
        "goreleaser",
        GORELEASER,
        L,
        D,
        Some("tool_1.2.3_Linux_x86_64.tar.gz"),
    ),
    (
        "goreleaser",
        GORELEASER,
        LA,
        D,
        Some("tool_1.2.3_Linux_arm64.tar.gz"),
    ),
    (
        "goreleaser",
        GORELEASER,
        M,
        D,
        Some("tool_1.2.3_Darwin_x86_64.tar.gz"),
    ),
    (
        "goreleaser",
        GORELEASER,
        MA,
        D,
        Some("tool_1.2.3_Darwin_arm64.tar.gz"),
    ),
    (
        "goreleaser",
        GORELEASER,
        W,
        D,
        Some("tool_1.2.3_Windows_x86_64.zip"),
    ),
    (
        "goreleaser universal",
        GORELEASER_UNIVERSAL,
        M,
        D,
        Some("tool_2.0.0_Darwin_all.tar.gz"),
    ),
    (
        "goreleaser universal",
        GORELEASER_UNIVERSAL,
        MA,
        D,
        Some("tool_2.0.0_Darwin_all.tar.gz"),
    ),
    ("goreleaser universal", GORELEASER_UNIVERSAL, LA, D, None),
    (
        "macos universal",
        MACOS_UNIVERSAL_WORD,
        M,
        D,
        Some("tool-v3.0.0-macos-universal.tar.gz"),
    ),
    (
        "macos universal",
        MACOS_UNIVERSAL_WORD,
        MA,
        D,
        Some("tool-v3.0.0-macos-arm64.tar.gz"),
    ),
    ("os only", OS_ONLY, L, D, Some("tool-1.0.0-linux.tar.gz")),
    ("os only", OS_ONLY, LA, D, Some("tool-1.0.0-linux.tar.gz")),
    ("os only", OS_ONLY, MA, D, Some("tool-1.0.0-macos.zip")),
    ("os only", OS_ONLY, W, D, Some("tool-1.0.0-windows.zip")),
    (
        "triples",
        TRIPLES,
        L,
        D,
        Some("tool-x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "triples",
        TRIPLES,
        L,
        Gnu,
        Some("tool-x86_64-unknown-linux-gnu.tar.gz"),
    ),
    (
        "triples",
        TRIPLES,
        LA,
        D,
        Some("tool-aarch64-unknown-linux-gnu.tar.gz"),
    ),
    ("triples", TRIPLES, M, D, Some("tool-x86_64-apple-darwin.tar.gz")),
    (
        "triples",
        TRIPLES,
        MA,
        D,
        Some("tool-aarch64-apple-darwin.tar.gz"),
    ),
    ("triples", TRIPLES, W, D, Some("tool-x86_64-pc-windows-msvc.zip")),
    ("installers only", INSTALLERS_ONLY, L, D, None),
    ("installers only", INSTALLERS_ONLY, MA, D, None),
    ("installers only", INSTALLERS_ONLY, W, D, None),
    ("exotic linux", EXOTIC_LINUX, L, D, None),
    (
        "exotic linux",
        EXOTIC_LINUX,
        L,
        Allow32,
        Some("tool-linux-386.tar.gz"),
    ),
    ("exotic linux", EXOTIC_LINUX, LA, D, None),
    (
        "exotic linux",
        EXOTIC_LINUX,
        LA,
        Allow32,
        Some("tool-linux-armv7.tar.gz"),
    ),
    ("windows 32-bit only", WINDOWS_32BIT_ONLY, W, D, None),
    (
        "windows 32-bit only",
        WINDOWS_32BIT_ONLY,
        W,
        Allow32,
        Some("tool-i686-pc-windows-msvc.zip"),
    ),
    (
        "hugo 0.92 32-bit fallback unused",
        HUGO_OLD,
        L,
        Allow32,
        Some("hugo_0.92.0_Linux-64bit.tar.gz"),
    ),
    ("sops", SOPS, L, D, Some("sops-v3.9.2.linux.amd64")),
    ("sops", SOPS, LA, D, Some("sops-v3.9.2.linux.arm64")),
    ("sops", SOPS, MA, D, Some("sops-v3.9.2.darwin.arm64")),
    ("sops", SOPS, W, D, Some("sops-v3.9.2.exe")),
    (
        "node_exporter",
        NODE_EXPORTER,
        L,
        D,
        Some("node_exporter-1.8.2.linux-amd64.tar.gz"),
    ),
    (
        "node_exporter",
        NODE_EXPORTER,
        LA,
        D,
        Some("node_exporter-1.8.2.linux-arm64.tar.gz"),
    ),
    ("node_exporter", NODE_EXPORTER, W, D, None),
    (
        "version 386",
        VERSION_386,
        L,
        D,
        Some("tool-1.386.0-linux.tar.gz"),
    ),
    (
        "version 386",
        VERSION_386,
        MA,
        D,
        Some("tool-1.386.0-darwin-arm64.tar.gz"),
    ),
    (
        "shellcheck",
        SHELLCHECK,
        L,
        D,
        Some("shellcheck-v0.10.0.linux.x86_64.tar.xz"),
    ),
    (
        "shellcheck",
        SHELLCHECK,
        M,
        D,
        Some("shellcheck-v0.10.0.darwin.x86_64.tar.xz"),
    ),
    ("shellcheck", SHELLCHECK, W, D, None),
    (
        "bottom",
        BOTTOM,
        L,
        D,
        Some("bottom_x86_64-unknown-linux-musl.tar.gz"),
    ),
    (
        "bottom",
        BOTTOM,
        L,
        Gnu,
        Some("bottom_x86_64-unknown-linux-gnu.tar.gz"),
    ),
    ("bottom", BOTTOM, W, D, Some("bottom_x86_64-pc-windows-msvc.zip")),
    ("mise", MISE, L, D, Some("mise-v2024.12.14-linux-x64-musl.tar.gz")),
    ("mise", MISE, L, Gnu, Some("mise-v2024.12.14-linux-x64.tar.gz")),
    ("mise", MISE, M, D, Some("mise-v2024.12.14-macos-x64.tar.gz")),
    ("mise", MISE, MA, D, Some("mise-v2024.12.14-macos-arm64.tar.gz")),
    ("mise", MISE, W, D, Some("mise-v2024.12.14-windows-x64.zip")),
    ("k9s", K9S, L, D, Some("k9s_Linux_amd64.tar.gz")),
    ("k9s", K9S, MA, D, Some("k9s_Darwin_arm64.tar.gz")),
    ("k9s", K9S, W, D, Some("k9s_Windows_amd64.zip")),
    ("cosign", COSIGN, L, D, Some("cosign-linux-amd64")),
    ("cosign", COSIGN, M, D, Some("cosign-darwin-amd64")),
    ("cosign", COSIGN, W, D, Some("cosign-windows-amd64.exe")),
    (
        "terraform",
        TERRAFORM,
        L,
        D,
        Some("terraform_1.9.8_linux_amd64.zip"),
    ),
    (
        "terraform",
        TERRAFORM,
        MA,
        D,
        Some("terraform_1.9.8_darwin_arm64.zip"),
    ),
    (
        "terraform",
        TERRAFORM,
        W,
        D,
        Some("terraform_1.9.8_windows_amd64.zip"),
    ),
    (
        "debug symbols",
        WITH_DEBUG,
        L,
        D,
        Some("tool-1.0.0-x86_64-unknown-linux-gnu.tar.gz"),
    ),
    (
        "debug symbols",
        WITH_DEBUG,
        MA,
        D,
        Some("tool-1.0.0-aarch64-apple-darwin.tar.gz"),
    ),
    (
        "debug symbols",
        WITH_DEBUG,
        W,
        D,
        Some("tool-1.0.0-x86_64-pc-windows-msvc.zip"),
    ),
    ("electron style", ELECTRON_STYLE, W, D, Some("tool-win32-x64.zip")),
    (
        "electron style",
        ELECTRON_STYLE,
        L,
        D,
        Some("tool-linux-x64.tar.gz"),
    ),
    (
        "electron style",
        ELECTRON_STYLE,
        MA,
        D,
        Some("tool-darwin-arm64.zip"),
    ),
    ("mac intel/arm", MAC_INTEL_ARM, M, D, Some("Tool-mac-intel.zip")),
    ("mac intel/arm", MAC_INTEL_ARM, MA, D, Some("Tool-mac-arm.zip")),
    ("mac intel/arm", MAC_INTEL_ARM, W, D, Some("Tool-windows.zip")),
    ("mac intel/arm", MAC_INTEL_ARM, LA, D, None),
    (
        "spelled bits",
        SPELLED_BITS,
        L,
        D,
        Some("tool-1.0-linux-64-bit.tar.gz"),
    ),
    (
        "spelled bits",
        SPELLED_BITS,
        M,
        D,
        Some("tool-1.0-macos-64-bit.zip"),
    ),
    ("spelled bits", SPELLED_BITS, MA, D, None),
    ("arch only", ARCH_ONLY, L, D, Some("tool-amd64")),
    ("arch only", ARCH_ONLY, LA, D, Some("tool-arm64")),
    ("arch only", ARCH_ONLY, W, D, None),
    (
        "mixed arch only",
        MIXED_ARCH_ONLY,
        LA,
        D,
        Some("tool-arm64.tar.gz"),
    ),
    (
        "mixed arch only",
        MIXED_ARCH_ONLY,
        L,
        D,
        Some("tool-linux-amd64.tar.gz"),
    ),
    (
        "os beats arch only",
        OS_BEATS_ARCH_ONLY,
        L,
        D,
        Some("tool-linux.tar.gz"),
    ),
    ("single binary", SINGLE_BINARY, L, D, Some("mytool")),
    ("single binary", SINGLE_BINARY, MA, D, Some("mytool")),
    ("single binary", SINGLE_BINARY, W, D, None),
    ("mingw", MINGW, W, D, Some("tool-1.0-x86_64-w64-mingw32.zip")),
    ("mingw", MINGW, L, D, None),
    ("static", STATIC, L, D, Some("tool-linux-x86_64-static.tar.gz")),
    ("static", STATIC, L, Gnu, Some("tool-linux-x86_64.tar.gz")),
];

fn release(list: &str) -> Vec<AssetInfo> {
    list.split_whitespace()
        .map(|name| AssetInfo {
            name: name.to_string(),
            size: Some(name.len() as u64),
        })
        .collect()
}

fn names<'a>(assets: &'a [AssetInfo], indices: &[usize]) -> Vec<&'a str> {
    indices.iter().map(|&i| assets[i].name.as_str()).collect()
}

fn chosen_name(assets: &[AssetInfo], platform: Platform, prefs: &Preferences) -> Option<String> {
    select(assets, platform, prefs)
        .chosen
        .map(|i| assets[i].name.clone())
}

/// The verdict `select` gives the asset called `name`.
fn verdict_of(list: &str, platform: Platform, name: &str) -> Verdict {
    let assets = release(list);
    let selection = select(&assets, platform, &Preferences::default());
    let index = assets
        .iter()
        .position(|a| a.name == name)
        .unwrap_or_else(|| panic!("no asset `{name}`"));
    selection
        .verdicts
        .iter()
        .find(|(i, _)| *i == index)
        .expect("a verdict for every asset")
        .1
        .clone()
}

fn dropped(reason: &str) -> Verdict {
    Verdict::Dropped(reason.to_string())
}

#[test]
fn table_of_real_releases() {
    assert!(TABLE.len() >= 60, "the table has {} rows", TABLE.len());
    let mut failures = Vec::new();
    for &(label, list, platform, prefs, expected) in TABLE {
        let assets = release(list);
        let selection = select(&assets, platform, &prefs.get());
        let chosen = selection.chosen.map(|i| assets[i].name.as_str());
        if chosen != expected {
            let verdicts: Vec<String> = selection
                .verdicts
                .iter()
                .map(|(i, v)| format!("    {:<60} {v:?}", assets[*i].name))
                .collect();
            failures.push(format!(
                "{label} on {platform} ({prefs:?}): expected {expected:?}, chose {chosen:?}\n{}",
                verdicts.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} row(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Tiny xorshift64 generator: deterministic "randomness" without a dependency.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn shuffled<T: Clone>(items: &[T], rng: &mut XorShift) -> Vec<T> {
    let mut items = items.to_vec();
    for i in (1..items.len()).rev() {
        items.swap(i, rng.below(i + 1));
    }
    items
}

#[test]
fn input_order_does_not_change_the_result() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for &(label, list, platform, prefs, _) in TABLE {
        let prefs = prefs.get();
        let assets = release(list);
        let expected = select(&assets, platform, &prefs);
        let expected_candidates = names(&assets, &expected.candidates);
        let mut reversed = assets.clone();
        reversed.reverse();
        let orders = [reversed, shuffled(&assets, &mut rng), shuffled(&assets, &mut rng)];
        for other in orders {
            let selection = select(&other, platform, &prefs);
            assert_eq!(
                names(&other, &selection.candidates),
                expected_candidates,
                "{label} on {platform}"
            );
            assert_eq!(
                chosen_name(&other, platform, &prefs),
                chosen_name(&assets, platform, &prefs),
                "{label}"
            );
        }
    }
}

#[test]
fn selection_is_consistent() {
    for &(label, list, platform, prefs, _) in TABLE {
        let assets = release(list);
        let selection = select(&assets, platform, &prefs.get());
        assert_eq!(selection.chosen, selection.candidates.first().copied(), "{label}");
        assert_eq!(
            selection.verdicts.len(),
            assets.len(),
            "{label}: one verdict per asset"
        );
        for (position, (index, verdict)) in selection.verdicts.iter().enumerate() {
            assert_eq!(*index, position, "{label}: verdicts in input order");
            if let Verdict::Candidate { rank } = verdict {
                assert_eq!(selection.candidates[*rank], *index, "{label}");
            }
        }
        let kept = selection
            .verdicts
            .iter()
            .filter(|(_, v)| matches!(v, Verdict::Candidate { .. }))
            .count();
        assert_eq!(kept, selection.candidates.len(), "{label}");
    }
}

#[test]
fn candidates_follow_the_cascade() {
    // Format: tar.gz, then tar.xz, tar.zst, then the bare executable; musl before the rest.
    let assets = release(MISE);
    let selection = select(&assets, L, &Preferences::default());
    assert_eq!(
        names(&assets, &selection.candidates),
        [
            "mise-v2024.12.14-linux-x64-musl.tar.gz",
            "mise-v2024.12.14-linux-x64-musl.tar.xz",
            "mise-v2024.12.14-linux-x64-musl.tar.zst",
            "mise-v2024.12.14-linux-x64-musl",
            "mise-v2024.12.14-linux-x64.tar.gz",
            "mise-v2024.12.14-linux-x64.tar.xz",
            "mise-v2024.12.14-linux-x64.tar.zst",
            "mise-v2024.12.14-linux-x64",
        ]
    );
    // Exact architecture before universal; plain before extended.
    let assets = release(HUGO);
    let selection = select(&assets, L, &Preferences::default());
    assert_eq!(
        names(&assets, &selection.candidates),
        [
            "hugo_0.140.0_linux-amd64.tar.gz",
            "hugo_extended_0.140.0_linux-amd64.tar.gz",
            "hugo_extended_withdeploy_0.140.0_linux-amd64.tar.gz",
        ]
    );
    let assets = release(GORELEASER);
    let selection = select(&assets, MA, &Preferences::default());
    assert_eq!(
        names(&assets, &selection.candidates),
        ["tool_1.2.3_Darwin_arm64.tar.gz", "tool_1.2.3_Darwin_all.tar.gz"]
    );
    // Windows: zip, then .exe, then tar.gz; msvc before gnu.
    let assets = release(MINIKUBE);
    let selection = select(&assets, W, &Preferences::default());
    assert_eq!(
        names(&assets, &selection.candidates),
        ["minikube-windows-amd64.exe", "minikube-windows-amd64.tar.gz"]
    );
    let assets = release(YQ);
    let selection = select(&assets, W, &Preferences::default());
    assert_eq!(
        names(&assets, &selection.candidates),
        ["yq_windows_amd64.zip", "yq_windows_amd64.exe"]
    );
    let assets = release(RIPGREP);
    let selection = select(&assets, W, &Preferences::default());
    assert_eq!(
        names(&assets, &selection.candidates),
        [
            "ripgrep-14.1.1-x86_64-pc-windows-msvc.zip",
            "ripgrep-14.1.1-x86_64-pc-windows-gnu.zip"
        ]
    );
    // The 32-bit fallback comes after everything 64-bit.
    let assets = release(LAZYGIT);
    let prefs = Preferences {
        allow_32bit_fallback: true,
        ..Preferences::default()
    };
    let selection = select(&assets, L, &prefs);
    assert_eq!(
        names(&assets, &selection.candidates),
        [
            "lazygit_0.44.1_Linux_x86_64.tar.gz",
            "lazygit_0.44.1_Linux_32-bit.tar.gz"
        ]
    );
}

#[test]
fn reasons_are_readable() {
    assert_eq!(
        verdict_of(
            RIPGREP,
            L,
            "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz.sha256"
        ),
        dropped("checksum file")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-x86_64-pc-windows-msvc.zip"),
        dropped("for windows, not linux")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-x86_64-apple-darwin.tar.gz"),
        dropped("for macos, not linux")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-armv7-unknown-linux-gnueabihf.tar.gz"),
        dropped("arm32 build")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-i686-unknown-linux-gnu.tar.gz"),
        dropped("32-bit x86 build")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-s390x-unknown-linux-gnu.tar.gz"),
        dropped("s390x build")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-powerpc64-unknown-linux-gnu.tar.gz"),
        dropped("ppc64 build")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-aarch64-unknown-linux-gnu.tar.gz"),
        dropped("for aarch64, not x86_64")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep_14.1.1-1_amd64.deb"),
        dropped("installer package (.deb)")
    );
    assert_eq!(
        verdict_of(RIPGREP, L, "ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"),
        Verdict::Candidate { rank: 0 }
    );
    assert_eq!(
        verdict_of(ZOXIDE, LA, "zoxide-0.9.6-aarch64-linux-android.tar.gz"),
        dropped("for android, not linux")
    );
    assert_eq!(
        verdict_of(FZF, L, "fzf-0.57.0-freebsd_amd64.tar.gz"),
        dropped("for freebsd, not linux")
    );
    assert_eq!(
        verdict_of(FZF, L, "fzf-0.57.0-linux_ppc64le.tar.gz"),
        dropped("ppc64le build")
    );
    assert_eq!(
        verdict_of(FZF, L, "fzf-0.57.0-linux_loong64.tar.gz"),
        dropped("loong64 build")
    );
    assert_eq!(verdict_of(DENO, L, "deno_src.tar.gz"), dropped("source archive"));
    assert_eq!(verdict_of(UV, L, "source.tar.gz"), dropped("source archive"));
    assert_eq!(verdict_of(UV, L, "uv-installer.sh"), dropped("script (.sh)"));
    assert_eq!(
        verdict_of(UV, L, "dist-manifest.json"),
        dropped("not a program (.json)")
    );
    assert_eq!(verdict_of(UV, L, "sha256.sum"), dropped("checksum file"));
    assert!(
        matches!(verdict_of(JQ, L, "jq-1.7.1.tar.gz"), Verdict::Dropped(r) if r.contains("source archive"))
    );
    assert_eq!(
        verdict_of(GORELEASER, L, "tool_1.2.3_Linux_x86_64.tar.gz.sbom.json"),
        dropped("SBOM (software bill of materials)")
    );
    assert_eq!(
        verdict_of(GORELEASER, L, "multiple.intoto.jsonl"),
        dropped("build attestation")
    );
    assert_eq!(
        verdict_of(GORELEASER, L, "checksums.txt.sig"),
        dropped("signature (.sig)")
    );
    assert_eq!(
        verdict_of(GORELEASER, L, "checksums.txt.pem"),
        dropped("certificate or key (.pem)")
    );
    assert_eq!(
        verdict_of(GORELEASER, L, "tool_1.2.3_linux_amd64.pkg.tar.zst"),
        dropped("installer package (.pkg.tar.zst)")
    );
    assert_eq!(
        verdict_of(GORELEASER, L, "tool_1.2.3_linux_amd64.apk"),
        dropped("installer package (.apk)")
    );
    assert_eq!(
        verdict_of(INSTALLERS_ONLY, W, "tool-setup-1.0.0.exe"),
        dropped("installer package (.exe installer)")
    );
    assert_eq!(
        verdict_of(INSTALLERS_ONLY, L, "tool-1.0.0-x86_64.AppImage"),
        dropped("installer package (.appimage)")
    );
    assert_eq!(
        verdict_of(NODE, W, "node-v22.12.0-win-x64.7z"),
        dropped("not an archive or executable velo can install (.7z)")
    );
    assert_eq!(
        verdict_of(NEOVIM_0_10, L, "nvim.appimage.zsync"),
        dropped("not a program (.zsync)")
    );
    assert_eq!(
        verdict_of(WITH_DEBUG, MA, "tool-1.0.0-aarch64-apple-darwin.dSYM.zip"),
        dropped("debug symbols or debug build")
    );
    assert_eq!(
        verdict_of(WITH_DEBUG, W, "tool-1.0.0-x86_64-pc-windows-msvc.pdb"),
        dropped("debug symbols (.pdb)")
    );
    assert_eq!(
        verdict_of(WITH_DEBUG, L, "tool-vscode-1.0.0.vsix"),
        dropped("VS Code extension (.vsix)")
    );
    assert_eq!(
        verdict_of(YQ, L, "checksums_hashes_order"),
        dropped("checksum file")
    );
    assert_eq!(
        verdict_of(TERRAFORM, L, "terraform_1.9.8_SHA256SUMS"),
        dropped("checksum file")
    );
    assert_eq!(
        verdict_of(BOTTOM, L, "choco.zip"),
        dropped("no OS or architecture in the name, unlike other assets (a source archive?)")
    );
    assert_eq!(
        verdict_of(ARCH_ONLY, W, "tool-amd64"),
        dropped("not a Windows executable (no .exe, no Windows in the name)")
    );
    assert_eq!(
        verdict_of(HUGO, MA, "hugo_0.140.0_darwin-universal.pkg"),
        dropped("installer package (.pkg)")
    );
}

#[test]
fn pattern_overrides_detection() {
    let assets = release(SHELLCHECK);
    let prefs = Preferences {
        pattern: Some("shellcheck-v*.zip".to_string()),
        ..Preferences::default()
    };
    assert_eq!(
        chosen_name(&assets, W, &prefs).as_deref(),
        Some("shellcheck-v0.10.0.zip")
    );
    // The platform plays no part: the pattern is the whole decision.
    assert_eq!(
        chosen_name(&assets, L, &prefs).as_deref(),
        Some("shellcheck-v0.10.0.zip")
    );

    // Case-insensitive, and `?` is one character.
    let assets = release(LAZYGIT);
    let prefs = Preferences {
        pattern: Some("LAZYGIT_*_linux_x86_6?.TAR.GZ".to_string()),
        ..Preferences::default()
    };
    assert_eq!(
        chosen_name(&assets, MA, &prefs).as_deref(),
        Some("lazygit_0.44.1_Linux_x86_64.tar.gz")
    );

    // Several matches are sorted by name; checksums and packages that match are still dropped.
    let assets = release(HUGO);
    let prefs = Preferences {
        pattern: Some("hugo_extended_*linux-amd64*".to_string()),
        ..Preferences::default()
    };
    let selection = select(&assets, L, &prefs);
    assert_eq!(
        names(&assets, &selection.candidates),
        [
            "hugo_extended_0.140.0_linux-amd64.tar.gz",
            "hugo_extended_withdeploy_0.140.0_linux-amd64.tar.gz"
        ]
    );
    let deb = assets
        .iter()
        .position(|a| a.name == "hugo_extended_0.140.0_linux-amd64.deb")
        .unwrap();
    assert_eq!(selection.verdicts[deb].1, dropped("installer package (.deb)"));
    let plain = assets
        .iter()
        .position(|a| a.name == "hugo_0.140.0_linux-amd64.tar.gz")
        .unwrap();
    assert_eq!(
        selection.verdicts[plain].1,
        dropped("does not match `hugo_extended_*linux-amd64*`")
    );

    let assets = release(RIPGREP);
    let prefs = Preferences {
        pattern: Some("*x86_64-unknown-linux-musl*".to_string()),
        ..Preferences::default()
    };
    let selection = select(&assets, L, &prefs);
    assert_eq!(
        names(&assets, &selection.candidates),
        ["ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"]
    );
    let sha = assets
        .iter()
        .position(|a| a.name.ends_with("linux-musl.tar.gz.sha256"))
        .unwrap();
    assert_eq!(selection.verdicts[sha].1, dropped("checksum file"));

    // A pattern that matches nothing chooses nothing, even where detection would.
    let prefs = Preferences {
        pattern: Some("*linux-musl.zip".to_string()),
        ..Preferences::default()
    };
    assert_eq!(chosen_name(&assets, L, &prefs), None);
    // The user's pattern even picks what detection drops (a gnu build when musl is preferred).
    let prefs = Preferences {
        pattern: Some("*x86_64-unknown-linux-gnu*".to_string()),
        ..Preferences::default()
    };
    assert_eq!(
        chosen_name(&release(TRIPLES), L, &prefs).as_deref(),
        Some("tool-x86_64-unknown-linux-gnu.tar.gz")
    );
}

#[test]
fn glob_matching() {
    use super::glob::matches;
    assert!(matches("*", ""));
    assert!(matches("*", "anything"));
    assert!(matches("", ""));
    assert!(!matches("", "a"));
    assert!(matches("a*b*c", "aXXbYYc"));
    assert!(matches("a*b*c", "abc"));
    assert!(!matches("a*b*c", "abcd"));
    assert!(matches("*.tar.gz", "tool.tar.gz"));
    assert!(!matches("*.tar.gz", "tool.tar.gz.sha256"));
    assert!(matches("tool-?.zip", "tool-1.zip"));
    assert!(!matches("tool-?.zip", "tool-12.zip"));
    assert!(matches("TOOL*", "tool-linux"));
    assert!(matches("**a**", "bab"));
    assert!(matches("*a*a*a*a*a*b", &format!("{}b", "a".repeat(40))));
    assert!(!matches("*a*a*a*a*a*b", &"a".repeat(40)));
}

#[test]
fn archive_formats() {
    let cases: &[(&str, Option<&str>)] = &[
        ("tool-linux-amd64.tar.gz", Some("tar.gz")),
        ("tool-linux-amd64.tgz", Some("tar.gz")),
        ("tool-linux-amd64.TAR.GZ", Some("tar.gz")),
        ("zig-linux-x86_64-0.13.0.tar.xz", Some("tar.xz")),
        ("tool.txz", Some("tar.xz")),
        ("mise-v2024.12.14-linux-x64.tar.zst", Some("tar.zst")),
        ("tool.tar.bz2", Some("tar.bz2")),
        ("tool.tbz2", Some("tar.bz2")),
        ("tool-windows.zip", Some("zip")),
        ("tool-linux-amd64.gz", Some("gz")),
        ("tool-linux-amd64.xz", Some("xz")),
        ("tool-linux-amd64.zst", Some("zst")),
        ("jq-linux-amd64", Some("raw")),
        ("jq-win64.exe", Some("raw")),
        ("kubectl", Some("raw")),
        ("sops-v3.9.2.linux.amd64", Some("raw")),
        ("sops-v3.9.2.darwin", Some("raw")),
        ("tool-1.2.3", Some("raw")),
        ("tool-linux-amd64.bin", Some("raw")),
        ("tool.deb", None),
        ("tool.x86_64.rpm", None),
        ("tool.msi", None),
        ("tool.pkg", None),
        ("tool.dmg", None),
        ("nvim.appimage", None),
        ("Tool-x86_64.AppImage", None),
        ("tool.apk", None),
        ("tool_amd64.snap", None),
        ("tool.flatpak", None),
        ("tool-1.0-1-x86_64.pkg.tar.zst", None),
        ("tool-setup.exe", None),
        ("tool-installer.exe", None),
        ("tool.vsix", None),
        ("tool.pdb", None),
        ("checksums.txt", None),
        ("SHA256SUMS", None),
        ("tool.tar.gz.sha256", None),
        ("tool.tar.gz.sha256sum", None),
        ("tool.tar.gz.sha512", None),
        ("tool.tar.gz.md5", None),
        ("tool.tar.gz.sig", None),
        ("tool.tar.gz.asc", None),
        ("tool.tar.gz.minisig", None),
        ("tool.tar.gz.pem", None),
        ("tool.tar.gz.sbom.json", None),
        ("tool.spdx", None),
        ("tool.spdx.json", None),
        ("multiple.intoto.jsonl", None),
        ("release.pub", None),
        ("tool.cert", None),
        ("notes.txt", None),
        ("dist-manifest.json", None),
        ("README.md", None),
        ("LICENSE", None),
        ("index.html", None),
        ("install.sh", None),
        ("install.ps1", None),
        ("tool.7z", None),
        ("tool.tar", None),
        ("tool.jar", None),
        ("tool.wasm", None),
        ("lib.deno.d.ts", None),
        ("checksums-bsd", None),
    ];
    for &(name, expected) in cases {
        assert_eq!(archive_format(name), expected, "{name}");
    }
}

#[test]
fn checksum_files() {
    for name in [
        "sha256sums.txt",
        "SHA256SUMS",
        "checksums.txt",
        "gh_2.63.2_checksums.txt",
        "fzf_0.57.0_checksums.txt",
        "cosign_checksums.txt",
        "tool.tar.gz.sha256",
        "nvim-linux64.tar.gz.sha256sum",
        "terraform_1.9.8_SHA256SUMS",
        "SHASUMS256.txt",
        "sha256.sum",
        "sha256sum.txt",
        "checksums.sha256",
        "sops-v3.9.2.checksums.txt",
    ] {
        assert!(is_checksum_file(name), "{name}");
    }
    for name in [
        "SHA512SUMS",
        "sha512sums.txt",
        "tool.tar.gz.sha512",
        "tool.tar.gz.md5",
        "MD5SUMS",
        "SHASUMS512.txt",
        "checksums.txt.sig",
        "SHA256SUMS.asc",
        "tool.tar.gz",
        "checksums",
        "notes.txt",
    ] {
        assert!(!is_checksum_file(name), "{name}");
    }
}

#[test]
fn tokens_keep_architectures_recognisable() {
    assert_eq!(
        tokens("ripgrep-14.1.1-x86_64-unknown-linux-musl.tar.gz"),
        ["ripgrep", "14", "1", "1", "x86_64", "unknown", "linux", "musl", "tar", "gz"]
    );
    assert_eq!(
        tokens("bar_1.0.0_linux_amd64.tar.gz"),
        ["bar", "1", "0", "0", "linux", "amd64", "tar", "gz"]
    );
    assert_eq!(tokens("app.Darwin.arm64.zip"), ["app", "darwin", "arm64", "zip"]);
    assert_eq!(
        tokens("lazygit_0.44.1_Linux_32-bit.tar.gz"),
        ["lazygit", "0", "44", "1", "linux", "32bit", "tar", "gz"]
    );
    assert_eq!(tokens("tool-x86-64.zip"), ["tool", "x86_64", "zip"]);
    assert_eq!(
        tokens("zig-linux-x86-0.13.0.tar.xz"),
        ["zig", "linux", "x86", "0", "13", "0", "tar", "xz"]
    );
    assert_eq!(tokens("tool-linux-64-bit"), ["tool", "linux", "64bit"]);
    assert_eq!(
        tokens("foo-v1.2.3-win64-setup.exe"),
        ["foo", "v1", "2", "3", "win64", "setup", "exe"]
    );
    assert_eq!(tokens(""), Vec::<String>::new());
    assert_eq!(tokens("--__.."), Vec::<String>::new());
}

#[test]
fn libc_from_names() {
    assert_eq!(libc("tool-x86_64-unknown-linux-musl.tar.gz"), Libc::Musl);
    assert_eq!(libc("tool-armv7-unknown-linux-musleabihf.tar.gz"), Libc::Musl);
    assert_eq!(libc("tool-x86_64-unknown-linux-gnu.tar.gz"), Libc::Gnu);
    assert_eq!(libc("tool-arm-unknown-linux-gnueabihf.tar.gz"), Libc::Gnu);
    assert_eq!(libc("tool-linux-x86_64-static.tar.gz"), Libc::Static);
    assert_eq!(libc("tool_linux_amd64.tar.gz"), Libc::Unknown);
}

/// Names built from the pieces real names are made of, plus noise, to reach the odd corners.
fn random_name(rng: &mut XorShift) -> String {
    const PIECES: &[&str] = &[
        "tool",
        "linux",
        "darwin",
        "macos",
        "windows",
        "win",
        "win32",
        "win64",
        "linux64",
        "x86",
        "64",
        "_64",
        "x86_64",
        "amd64",
        "arm64",
        "aarch64",
        "arm",
        "armv7",
        "i686",
        "386",
        "32",
        "bit",
        "-bit",
        "universal",
        "all",
        "musl",
        "gnu",
        "static",
        "msvc",
        "android",
        "freebsd",
        "s390x",
        "ppc64le",
        "riscv64",
        ".tar",
        ".gz",
        ".tgz",
        ".xz",
        ".zst",
        ".zip",
        ".exe",
        ".deb",
        ".sha256",
        ".sig",
        ".sbom.json",
        ".intoto.jsonl",
        ".txt",
        "src",
        "source",
        "setup",
        "debug",
        "1",
        "2.3",
        "v1",
        "0.386.1",
        "-",
        "_",
        ".",
        " ",
        "..",
        "*",
        "?",
        "é",
        "ß",
        "İ",
        "日本",
        "\u{0}",
        "\u{feff}",
        "ǅ",
        "Σ",
        "ﬃ",
        "\u{10ffff}",
        "SHA256SUMS",
        "checksums",
        "LICENSE",
    ];
    let len = rng.below(8);
    let mut name = String::new();
    for _ in 0..len {
        if rng.below(5) == 0 {
            // Arbitrary characters, not only pieces.
            let code = (rng.next() % 0x11_0000) as u32;
            name.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        } else {
            name.push_str(PIECES[rng.below(PIECES.len())]);
        }
    }
    name
}

#[test]
fn never_panics_on_arbitrary_names() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut batch: Vec<AssetInfo> = Vec::new();
    let patterns = [
        None,
        Some("*"),
        Some("*linux*"),
        Some("?*?"),
        Some("tool*.zip"),
        Some(""),
    ];
    for round in 0..10_000 {
        let name = random_name(&mut rng);
        let _ = tokens(&name);
        let _ = archive_format(&name);
        let _ = is_checksum_file(&name);
        let _ = libc(&name);
        let _ = super::glob::matches(&name, &name);
        batch.push(AssetInfo {
            name,
            size: if round % 3 == 0 { None } else { Some(round as u64) },
        });
        if batch.len() == 12 {
            let pattern = patterns[round % patterns.len()].map(str::to_string);
            let prefs = Preferences {
                prefer_musl: round % 2 == 0,
                allow_32bit_fallback: round % 4 < 2,
                pattern,
            };
            for platform in Platform::ALL {
                let selection = select(&batch, platform, &prefs);
                assert_eq!(selection.chosen, selection.candidates.first().copied());
                assert_eq!(selection.verdicts.len(), batch.len());
                let mut reversed = batch.clone();
                reversed.reverse();
                let again = select(&reversed, platform, &prefs);
                assert_eq!(
                    again.chosen.map(|i| &reversed[i].name),
                    selection.chosen.map(|i| &batch[i].name),
                    "order changed the choice among {batch:?}"
                );
            }
            batch.clear();
        }
    }
}

mod properties {
    use proptest::prelude::*;

    use super::super::{archive_format, is_checksum_file, select, tokens, AssetInfo, Preferences};
    use crate::platform::Platform;

    proptest! {
        /// Any name at all: tokenizing, classifying and selecting never panic, and a chosen
        /// asset is always one of the candidates.
        #[test]
        fn arbitrary_names_never_panic(names in proptest::collection::vec("\\PC{0,60}", 0..12), pattern in proptest::option::of("[a-z*?._-]{0,12}")) {
            let assets: Vec<AssetInfo> = names.iter().map(|name| AssetInfo { name: name.clone(), size: None }).collect();
            for name in &names {
                let _ = tokens(name);
                let _ = archive_format(name);
                let _ = is_checksum_file(name);
            }
            let preferences = Preferences { pattern: pattern.clone(), ..Preferences::default() };
            for platform in Platform::ALL {
                let selection = select(&assets, platform, &preferences);
                if let Some(chosen) = selection.chosen {
                    prop_assert_eq!(selection.candidates.first(), Some(&chosen));
                }
                prop_assert_eq!(selection.verdicts.len(), assets.len());
            }
        }

        /// Names shaped like real release assets.
        #[test]
        fn release_like_names_never_panic(name in "[a-z]{1,8}[-_.]v?[0-9]{1,2}\\.[0-9]{1,2}[-_.](linux|darwin|windows|macos|freebsd)?[-_.]?(x86_64|amd64|arm64|aarch64|386|armv7)?[-_.]?(musl|gnu)?\\.(tar\\.gz|zip|tar\\.xz|exe|sha256|deb)?") {
            let assets = vec![AssetInfo { name, size: Some(1) }];
            for platform in Platform::ALL {
                let _ = select(&assets, platform, &Preferences::default());
            }
        }
    }
}
