//! Time zones for EventBridge Scheduler's `ScheduleExpressionTimezone`:
//! UTC and the fixed `Etc/GMT±N` zones by name, every other IANA zone from
//! the system's time zone database (TZif files under `/usr/share/zoneinfo`,
//! or `TZDIR`), including the POSIX rule a TZif file ends with for times
//! after its last transition. Without the database only UTC and fixed
//! offsets are known.

use std::path::PathBuf;

/// A zone: its offset from UTC at any instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// Always this many seconds east of UTC.
    Fixed(i64),
    /// From the tz database.
    Database(Box<TzData>),
}

/// A parsed TZif file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TzData {
    /// Transition instants, seconds since the epoch, ascending.
    transitions: Vec<i64>,
    /// The offset (seconds east of UTC) in force from each transition on.
    offsets: Vec<i64>,
    /// The offset before the first transition.
    initial: i64,
    /// The rule for instants after the last transition.
    rule: Option<PosixRule>,
}

impl Zone {
    /// The offset of `utc` (seconds since the epoch) in this zone, seconds
    /// east of UTC.
    pub fn offset_at(&self, utc: i64) -> i64 {
        match self {
            Self::Fixed(offset) => *offset,
            Self::Database(tz) => tz.offset_at(utc),
        }
    }

    /// The UTC instant of a local wall-clock time (seconds since the epoch
    /// as if the wall clock were UTC). In a gap the later offset wins.
    pub fn to_utc(&self, local: i64) -> i64 {
        let guess = local - self.offset_at(local);
        local - self.offset_at(guess)
    }
}

/// The zone called `name`: `UTC`-like names and `Etc/GMT±N` directly, the
/// others from the tz database. `Err` says why the zone is unknown.
pub fn lookup(name: &str) -> Result<Zone, String> {
    let name = name.trim();
    const UTC: [&str; 12] = [
        "",
        "UTC",
        "UCT",
        "GMT",
        "Zulu",
        "Universal",
        "Etc/UTC",
        "Etc/UCT",
        "Etc/GMT",
        "Etc/Zulu",
        "Etc/Universal",
        "Etc/Greenwich",
    ];
    if UTC.contains(&name) {
        return Ok(Zone::Fixed(0));
    }
    // POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC.
    if let Some(hours) = name.strip_prefix("Etc/GMT").and_then(|h| h.parse::<i64>().ok()) {
        if (-14..=12).contains(&hours) {
            return Ok(Zone::Fixed(-hours * 3600));
        }
    }
    let safe = !name.contains("..")
        && !name.starts_with('/')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "_+-/".contains(c));
    if !safe {
        return Err(format!("{name:?} is not an IANA time zone name"));
    }
    let dir = std::env::var_os("TZDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/zoneinfo"));
    let path = dir.join(name);
    let bytes = std::fs::read(&path)
        .map_err(|e| format!("time zone {name} needs the tz database ({}: {e})", path.display()))?;
    parse_tzif(&bytes)
        .map(|tz| Zone::Database(Box::new(tz)))
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl TzData {
    fn offset_at(&self, utc: i64) -> i64 {
        match (self.transitions.last(), &self.rule) {
            (Some(last), Some(rule)) if utc >= *last => rule.offset_at(utc),
            (None, Some(rule)) => rule.offset_at(utc),
            _ => match self.transitions.partition_point(|t| *t <= utc) {
                0 => self.initial,
                n => self.offsets[n - 1],
            },
        }
    }
}

fn be_u32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "truncated TZif file".to_string())
}

/// Parses a TZif file (RFC 8536): the version 2+ data block when there is
/// one, else version 1's, and the POSIX TZ footer.
pub fn parse_tzif(b: &[u8]) -> Result<TzData, String> {
    if b.get(..4) != Some(b"TZif") {
        return Err("not a TZif file".into());
    }
    let version = b.get(4).copied().unwrap_or(0);
    let counts = |at: usize| -> Result<[usize; 6], String> {
        let mut c = [0; 6];
        for (i, slot) in c.iter_mut().enumerate() {
            *slot = be_u32(b, at + 20 + 4 * i)? as usize;
        }
        Ok(c)
    };
    // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
    let v1 = counts(0)?;
    let block = |c: [usize; 6], time_size: usize| {
        c[3] * time_size + c[3] + c[4] * 6 + c[5] + c[2] * (time_size + 4) + c[1] + c[0]
    };
    let (start, c, time_size) = if version >= b'2' {
        let second = 44 + block(v1, 4);
        if b.get(second..second + 4) != Some(b"TZif") {
            return Err("TZif version 2 header missing".into());
        }
        (second, counts(second)?, 8)
    } else {
        (0, v1, 4)
    };
    let mut at = start + 44;
    let mut transitions = Vec::with_capacity(c[3]);
    for i in 0..c[3] {
        let p = at + i * time_size;
        let raw = b.get(p..p + time_size).ok_or("truncated TZif transitions")?;
        transitions.push(if time_size == 8 {
            i64::from_be_bytes(raw.try_into().map_err(|_| "bad transition")?)
        } else {
            i64::from(i32::from_be_bytes(raw.try_into().map_err(|_| "bad transition")?))
        });
    }
    at += c[3] * time_size;
    let indices = b.get(at..at + c[3]).ok_or("truncated TZif type indices")?.to_vec();
    at += c[3];
    let mut types = Vec::with_capacity(c[4]);
    for i in 0..c[4] {
        types.push(i64::from(be_u32(b, at + 6 * i)? as i32));
    }
    let initial = *types.first().ok_or("TZif file without local time types")?;
    let offsets = indices
        .iter()
        .map(|i| types.get(*i as usize).copied().ok_or("bad TZif type index"))
        .collect::<Result<Vec<i64>, _>>()?;
    let end = start + 44 + block(c, time_size);
    let rule = if version >= b'2' {
        let footer = b.get(end..).unwrap_or_default();
        let text = std::str::from_utf8(footer).unwrap_or_default().trim_matches('\n');
        (!text.is_empty()).then(|| PosixRule::parse(text)).transpose()?
    } else {
        None
    };
    Ok(TzData {
        transitions,
        offsets,
        initial,
        rule,
    })
}

/// A POSIX TZ rule such as `GMT0BST,M3.5.0/1,M10.5.0` or
/// `EST5EDT,M3.2.0,M11.1.0` (the `Mm.w.d` form, the one tzdata writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixRule {
    /// Standard offset, seconds east of UTC.
    std: i64,
    /// Daylight saving: its offset and when it starts and ends.
    dst: Option<Dst>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dst {
    offset: i64,
    start: (u32, u32, u32, i64),
    end: (u32, u32, u32, i64),
}

impl PosixRule {
    /// Parses a rule; `Err` for forms tzdata does not use (`Jn`, `n`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("unsupported POSIX TZ rule {text:?}");
        let mut rest = text;
        let name = |rest: &mut &str| -> Option<()> {
            if let Some(r) = rest.strip_prefix('<') {
                let close = r.find('>')?;
                *rest = &r[close + 1..];
            } else {
                let n = rest.find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(rest.len());
                if n < 3 {
                    return None;
                }
                *rest = &rest[n..];
            }
            Some(())
        };
        let offset = |rest: &mut &str| -> Option<i64> {
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || "+-:".contains(c)))
                .unwrap_or(rest.len());
            let (text, tail) = rest.split_at(n);
            *rest = tail;
            parse_hms(text)
        };
        name(&mut rest).ok_or_else(bad)?;
        // POSIX offsets are west of UTC: negate.
        let std = -offset(&mut rest).ok_or_else(bad)?;
        if rest.is_empty() {
            return Ok(Self { std, dst: None });
        }
        name(&mut rest).ok_or_else(bad)?;
        let dst_offset = if rest.starts_with(',') {
            std + 3600
        } else {
            -offset(&mut rest).ok_or_else(bad)?
        };
        let mut parts = rest.strip_prefix(',').ok_or_else(bad)?.split(',');
        let mut when = || -> Option<(u32, u32, u32, i64)> {
            let part = parts.next()?;
            let (date, time) = part.split_once('/').unwrap_or((part, "2"));
            let mut mwd = date.strip_prefix('M')?.split('.').map(|x| x.parse::<u32>().ok());
            let (m, w, d) = (mwd.next()??, mwd.next()??, mwd.next()??);
            ((1..=12).contains(&m) && (1..=5).contains(&w) && d <= 6).then_some(())?;
            Some((m, w, d, parse_hms(time)?))
        };
        let start = when().ok_or_else(bad)?;
        let end = when().ok_or_else(bad)?;
        Ok(Self {
            std,
            dst: Some(Dst {
                offset: dst_offset,
                start,
                end,
            }),
        })
    }

    fn offset_at(&self, utc: i64) -> i64 {
        let Some(dst) = &self.dst else {
            return self.std;
        };
        let year = civil_from_days((utc + self.std).div_euclid(86_400)).0;
        // Start is given in standard time, end in daylight time.
        let start = rule_day(year, dst.start) * 86_400 + dst.start.3 - self.std;
        let end = rule_day(year, dst.end) * 86_400 + dst.end.3 - dst.offset;
        let in_dst = if start < end {
            start <= utc && utc < end
        } else {
            utc < end || utc >= start
        };
        if in_dst {
            dst.offset
        } else {
            self.std
        }
    }
}

/// `[+-]h[h][:mm[:ss]]` -> seconds.
fn parse_hms(text: &str) -> Option<i64> {
    let (sign, body) = match text.strip_prefix('-') {
        Some(b) => (-1, b),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let mut total = 0;
    for (i, part) in body.split(':').enumerate() {
        if i > 2 || part.is_empty() {
            return None;
        }
        total += part.parse::<i64>().ok()? * [3600, 60, 1][i];
    }
    Some(sign * total)
}

/// The day (days since the epoch) of `Mm.w.d` in `year`: weekday `d`
/// (0 = Sunday) of week `w` (5 = the last) of month `m`.
fn rule_day(year: i64, (m, w, d, _): (u32, u32, u32, i64)) -> i64 {
    let first = days_from_civil(year, m, 1);
    let weekday = (first + 4).rem_euclid(7); // 1970-01-01 was a Thursday
    let mut day = first + (i64::from(d) - weekday).rem_euclid(7) + 7 * (i64::from(w) - 1);
    while civil_from_days(day).1 != m {
        day -= 7;
    }
    day
}

/// Days since the epoch of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of a day since the epoch.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 11_016, 20_000, 60_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
    }

    #[test]
    fn posix_rules_switch_on_the_right_sundays() {
        let london = PosixRule::parse("GMT0BST,M3.5.0/1,M10.5.0").unwrap();
        // 2026: BST from Sun 29 March 01:00 UTC to Sun 25 October 01:00 UTC.
        assert_eq!(london.offset_at(utc(2026, 3, 29, 0, 59)), 0);
        assert_eq!(london.offset_at(utc(2026, 3, 29, 1, 0)), 3600);
        assert_eq!(london.offset_at(utc(2026, 10, 25, 0, 59)), 3600);
        assert_eq!(london.offset_at(utc(2026, 10, 25, 1, 0)), 0);
        let new_york = PosixRule::parse("EST5EDT,M3.2.0,M11.1.0").unwrap();
        // 2026: EDT from Sun 8 March 07:00 UTC to Sun 1 November 06:00 UTC.
        assert_eq!(new_york.offset_at(utc(2026, 3, 8, 6, 59)), -5 * 3600);
        assert_eq!(new_york.offset_at(utc(2026, 3, 8, 7, 0)), -4 * 3600);
        assert_eq!(new_york.offset_at(utc(2026, 11, 1, 5, 59)), -4 * 3600);
        assert_eq!(new_york.offset_at(utc(2026, 11, 1, 6, 0)), -5 * 3600);
        // Southern hemisphere: daylight time spans the new year.
        let sydney = PosixRule::parse("AEST-10AEDT,M10.1.0,M4.1.0/3").unwrap();
        assert_eq!(sydney.offset_at(utc(2026, 1, 15, 0, 0)), 11 * 3600);
        assert_eq!(sydney.offset_at(utc(2026, 6, 15, 0, 0)), 10 * 3600);
        assert_eq!(PosixRule::parse("<+0530>-5:30").unwrap().offset_at(0), 19_800);
        assert!(PosixRule::parse("EST5EDT,J60,J300").is_err());
    }

    #[test]
    fn fixed_zones_need_no_database() {
        assert_eq!(lookup("UTC").unwrap(), Zone::Fixed(0));
        assert_eq!(lookup("Etc/GMT+5").unwrap(), Zone::Fixed(-5 * 3600));
        assert_eq!(lookup("Etc/GMT-14").unwrap(), Zone::Fixed(14 * 3600));
        assert!(lookup("../etc/passwd").is_err());
    }

    #[test]
    fn the_system_database_agrees_with_the_rules() {
        // The tz database is part of the base system here and on CI; a
        // machine without it gets "see schedule" in `status`.
        let Ok(london) = lookup("Europe/London") else {
            eprintln!("no tz database: skipped");
            return;
        };
        assert_eq!(london.offset_at(utc(2026, 7, 1, 12, 0)), 3600);
        assert_eq!(london.offset_at(utc(2026, 12, 1, 12, 0)), 0);
        assert_eq!(
            london.offset_at(utc(2045, 7, 1, 12, 0)),
            3600,
            "past the file's transitions"
        );
        assert_eq!(london.to_utc(utc(2026, 7, 1, 7, 0)), utc(2026, 7, 1, 6, 0));
        let kolkata = lookup("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_at(utc(2026, 7, 1, 12, 0)), 19_800);
    }
}
