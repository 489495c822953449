//! `promtool check config` in miniature: checks each file given and prints promtool's
//! report layout. Exits with 1 when any file fails.
//!
//! ```text
//! cargo run -p narthex-config --example check_config -- prometheus.yml
//! ```

fn main() {
    let mut failed = false;
    for path in std::env::args().skip(1) {
        let report = narthex_config::check(&path);
        print!("{report}");
        failed |= !report.is_success();
    }
    std::process::exit(i32::from(failed));
}
