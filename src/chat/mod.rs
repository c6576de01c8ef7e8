//! Chat templates and conversational records: the messages TRL's conversational datasets hold
//! ([`Conversation`]), the template that turns them into text ([`ChatTemplate`], rendered as transformers renders
//! it), and where a checkpoint keeps its template ([`load`]).

mod json;
pub mod load;
mod message;
mod template;

pub use json::{python_float, python_json};
pub use message::{Conversation, Message, ROLES, extract_prompt, kind, messages_from_json};
pub use template::{ChatTemplate, RenderOptions};
