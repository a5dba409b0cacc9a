//! Account identifiers that pass the checks real software runs, yet belong to nobody.
//!
//! - Sort codes start `00`, a prefix allocated to no UK bank, and the account number's
//!   last digit makes a modulus-11 check over sort code and account number come to 0
//!   (weights `0 0 0 0 0 0 8 7 6 5 4 3 2 1`, one of the standard rows of the UK
//!   modulus-checking specification).
//! - IBANs are GB IBANs (ISO 13616) for the fictional bank code `GHSB`, with their
//!   mod-97 check digits.
//! - Card numbers use the `400000` test range and end in a Luhn check digit.

use rand09::Rng;

use crate::rng::Stream;

pub const BANK_CODE: &str = "GHSB";
const MOD11_WEIGHTS: [u32; 14] = [0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1];

fn digits(rng: &mut Stream, n: usize) -> String {
    (0..n)
        .map(|_| char::from(b'0' + rng.random_range(0..10u8)))
        .collect()
}

fn digit_values(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.chars().filter_map(|c| c.to_digit(10))
}

/// A sort code in the unallocated `00` range, as six digits.
pub fn sort_code(rng: &mut Stream) -> String {
    format!("00{}", digits(rng, 4))
}

/// An eight-digit account number that passes [`mod11_valid`] with `sort_code`.
pub fn account_number(rng: &mut Stream, sort_code: &str) -> String {
    loop {
        let body = digits(rng, 7);
        let sum: u32 = digit_values(sort_code)
            .chain(digit_values(&body))
            .zip(MOD11_WEIGHTS)
            .map(|(d, w)| d * w)
            .sum();
        let check = (11 - sum % 11) % 11;
        if check < 10 {
            return format!("{body}{check}");
        }
    }
}

/// The modulus-11 check over a 6-digit sort code and an 8-digit account number.
pub fn mod11_valid(sort_code: &str, account_number: &str) -> bool {
    if sort_code.len() != 6 || account_number.len() != 8 {
        return false;
    }
    let all: Vec<u32> = digit_values(sort_code)
        .chain(digit_values(account_number))
        .collect();
    all.len() == 14
        && all
            .iter()
            .zip(MOD11_WEIGHTS)
            .map(|(d, w)| d * w)
            .sum::<u32>()
            % 11
            == 0
}

/// The ISO 7064 mod-97 remainder of an IBAN, letters counted as 10..35.
fn mod97(rearranged: &str) -> Option<u32> {
    let mut remainder = 0u32;
    for c in rearranged.chars() {
        let value = c.to_digit(36)?;
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    Some(remainder)
}

/// The GB IBAN for a sort code and account number at the sandbox bank.
pub fn iban(sort_code: &str, account_number: &str) -> String {
    let bban = format!("{BANK_CODE}{sort_code}{account_number}");
    let remainder = mod97(&format!("{bban}GB00")).unwrap_or_default();
    format!("GB{:02}{bban}", 98 - remainder)
}

/// Whether an IBAN's check digits are right (ISO 13616: the rearranged number mod 97 is 1).
pub fn iban_valid(iban: &str) -> bool {
    if iban.len() < 5 || !iban.chars().all(|c| c.is_ascii_alphanumeric()) {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    mod97(&format!("{tail}{head}")) == Some(1)
}

/// A 16-digit card number in the `400000` test range with its Luhn check digit.
pub fn card_number(rng: &mut Stream) -> String {
    let body = format!("400000{}", digits(rng, 9));
    let check = (10 - luhn_sum(&body, true) % 10) % 10;
    format!("{body}{check}")
}

fn luhn_sum(number: &str, check_digit_missing: bool) -> u32 {
    number
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| {
            let double = (i % 2 == 0) == check_digit_missing;
            match (double, d * 2) {
                (true, twice) if twice > 9 => twice - 9,
                (true, twice) => twice,
                (false, _) => d,
            }
        })
        .sum()
}

pub fn luhn_valid(number: &str) -> bool {
    !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
        && luhn_sum(number, false).is_multiple_of(10)
}

/// A card number as it is shown without the `ReadPAN` permission.
pub fn masked_card(number: &str) -> String {
    let last4 = number
        .get(number.len().saturating_sub(4)..)
        .unwrap_or_default();
    format!("{}******{last4}", number.get(..6).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn generated_identifiers_pass_their_checks() {
        let mut rng = stream(&[7]);
        for _ in 0..500 {
            let sort = sort_code(&mut rng);
            let number = account_number(&mut rng, &sort);
            assert!(mod11_valid(&sort, &number), "{sort} {number}");
            let iban = iban(&sort, &number);
            assert_eq!(iban.len(), 22);
            assert!(iban_valid(&iban), "{iban}");
            assert!(luhn_valid(&card_number(&mut rng)));
        }
    }

    #[test]
    fn checks_reject_a_changed_digit() {
        // A published example IBAN (ECBS) and a standard Luhn example.
        assert!(iban_valid("GB82WEST12345698765432"));
        assert!(!iban_valid("GB82WEST12345698765433"));
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid("4111111111111112"));
        let mut rng = stream(&[8]);
        let sort = sort_code(&mut rng);
        let number = account_number(&mut rng, &sort);
        let last = number
            .chars()
            .last()
            .and_then(|c| c.to_digit(10))
            .unwrap_or(0);
        let changed = format!("{}{}", &number[..7], (last + 1) % 10);
        assert!(!mod11_valid(&sort, &changed));
        assert_eq!(masked_card("4000001234567899"), "400000******7899");
    }
}
