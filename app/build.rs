// `sqlx::migrate!` embeds the migration folders at compile time; rebuild when a
// migration is added (as sqlx's documentation recommends).
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
