//! The fields a serde type accepts, found by deserializing it from a
//! deserializer that answers every value with an empty one and notes the
//! path of each field it is asked for (`config::keys::accepted`).

use std::cell::RefCell;

use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer as _, MapAccess, SeqAccess, Visitor};

/// The field paths of `T` as serde sees them: `section.key`, and
/// `section[].key` inside sequences of tables.
pub(super) fn fields<'de, T: serde::Deserialize<'de>>() -> Vec<String> {
    let out = RefCell::new(Vec::new());
    let _ = T::deserialize(Recorder {
        path: String::new(),
        out: &out,
    });
    let mut keys = out.into_inner();
    keys.sort();
    keys.dedup();
    keys
}

/// A deserializer that answers every value with an empty one and notes the
/// path of each field it is asked for.
struct Recorder<'a> {
    path: String,
    out: &'a RefCell<Vec<String>>,
}

impl Recorder<'_> {
    fn leaf(&self) {
        self.out.borrow_mut().push(self.path.clone());
    }
}

macro_rules! leaf {
    ($($name:ident => $visit:ident($($v:expr)?)),* $(,)?) => {
        $(fn $name<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            self.leaf();
            visitor.$visit($($v)?)
        })*
    };
}

impl<'de> Deserializer<'de> for Recorder<'_> {
    type Error = de::value::Error;

    leaf! {
        deserialize_any => visit_str(""),
        deserialize_bool => visit_bool(false),
        deserialize_i8 => visit_i64(0),
        deserialize_i16 => visit_i64(0),
        deserialize_i32 => visit_i64(0),
        deserialize_i64 => visit_i64(0),
        deserialize_u8 => visit_u64(0),
        deserialize_u16 => visit_u64(0),
        deserialize_u32 => visit_u64(0),
        deserialize_u64 => visit_u64(0),
        deserialize_f32 => visit_f64(0.0),
        deserialize_f64 => visit_f64(0.0),
        deserialize_char => visit_char('x'),
        deserialize_str => visit_str(""),
        deserialize_string => visit_str(""),
        deserialize_bytes => visit_bytes(&[]),
        deserialize_byte_buf => visit_bytes(&[]),
        deserialize_unit => visit_unit(),
        deserialize_identifier => visit_str(""),
        deserialize_ignored_any => visit_unit(),
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        self.leaf();
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        // One element, so a table in an array of tables shows its fields;
        // a list of values is a key of its own.
        let path = if self.path.is_empty() {
            self.path.clone()
        } else {
            format!("{}[]", self.path)
        };
        let before = self.out.borrow().len();
        let r = visitor.visit_seq(One {
            first: Some(Recorder { path, out: self.out }),
        });
        // A list of plain values recorded `name[]`: it is the key `name`.
        let mut out = self.out.borrow_mut();
        if out.len() == before + 1 && out.last().is_some_and(|k| k == &format!("{}[]", self.path)) {
            out.pop();
            out.push(self.path.clone());
        }
        r
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.leaf();
        visitor.visit_map(Fields {
            fields: &[],
            at: 0,
            path: String::new(),
            out: self.out,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Fields {
            fields,
            at: 0,
            path: self.path,
            out: self.out,
        })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.leaf();
        visitor.visit_str("")
    }
}

struct One<'a> {
    first: Option<Recorder<'a>>,
}

impl<'de> SeqAccess<'de> for One<'_> {
    type Error = de::value::Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Self::Error> {
        match self.first.take() {
            Some(r) => seed.deserialize(r).map(Some),
            None => Ok(None),
        }
    }
}

struct Fields<'a> {
    fields: &'static [&'static str],
    at: usize,
    path: String,
    out: &'a RefCell<Vec<String>>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = de::value::Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        match self.fields.get(self.at) {
            Some(f) => seed.deserialize((*f).into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let f = self.fields.get(self.at).copied().unwrap_or_default();
        self.at += 1;
        let path = if self.path.is_empty() {
            f.to_owned()
        } else {
            format!("{}.{f}", self.path)
        };
        seed.deserialize(Recorder { path, out: self.out })
    }
}
