//! What a heatmap shows, independent of where it is drawn: the metric read from each token's scores
//! ([`Metric`]), the colour scale ([`Scale`]) and the diverging colormap ([`Colormap`]). The desktop app and the
//! PNG renderer ([`crate::render`]) both draw with these, so a token has the same colour on screen and on paper.

mod colormap;
mod metric;
mod scale;

pub use colormap::{Colormap, Rgb, Theme};
pub use metric::Metric;
pub use scale::{Scale, ScaleMode};
