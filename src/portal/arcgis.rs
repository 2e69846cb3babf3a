//! Placeholder until the ArcGIS client lands.
/// Placeholder.
pub fn generated_password() -> String {
    String::from("Placeholder-1")
}
