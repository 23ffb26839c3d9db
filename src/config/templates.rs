//! Limits of the templates modules store in the platform (`post_template`).

use super::fields::Fields;
use super::ConfigError;

#[derive(Clone, Debug)]
pub struct TemplateLimits {
    /// Bytes of one template's text. Its `post_template` message must also
    /// fit `hub_max_frame_bytes`, which is the tighter limit by default.
    pub max_bytes: usize,
    /// Templates one module may own: a module with a key is trusted with
    /// its own data, but not with filling the database.
    pub max_per_module: i64,
}

pub fn templates(f: &mut Fields) -> Result<TemplateLimits, ConfigError> {
    Ok(TemplateLimits {
        max_bytes: f.int("template_max_bytes", 256 << 10, 1, 16 << 20)?,
        max_per_module: f.int("template_max_per_module", 1000, 1, 1_000_000)?,
    })
}
