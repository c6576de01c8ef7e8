//! The app's fonts: egui's defaults first, then the bundled fallbacks ([`crate::fonts`]) so any script shows.

use egui::{FontData, FontDefinitions, FontFamily};
use std::sync::Arc;

/// Installs the bundled fonts as fallbacks of both families.
pub fn install(ctx: &egui::Context) {
    let mut defs = FontDefinitions::default();
    for (name, bytes) in crate::fonts::FALLBACK_CHAIN {
        defs.font_data
            .insert(name.to_string(), Arc::new(FontData::from_static(bytes)));
        for family in [FontFamily::Proportional, FontFamily::Monospace] {
            defs.families
                .entry(family)
                .or_default()
                .push(name.to_string());
        }
    }
    ctx.set_fonts(defs);
}
