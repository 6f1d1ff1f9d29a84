use std::process::ExitCode;

fn main() -> ExitCode {
    velo::cli::main()
}
