//! Addresses and CIDR blocks for `aws:SourceIp`.

use std::net::IpAddr;

/// An address block: `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    network: u128,
    prefix: u32,
    v6: bool,
}

fn bits(address: IpAddr) -> (u128, bool) {
    match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), false),
        IpAddr::V6(v6) => (u128::from(v6), true),
    }
}

impl Block {
    pub fn parse(text: &str) -> Option<Self> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix.parse::<u32>().ok()?)),
            None => (text, None),
        };
        let (network, v6) = bits(address.trim().parse::<IpAddr>().ok()?);
        let width = if v6 { 128 } else { 32 };
        let prefix = prefix.unwrap_or(width);
        (prefix <= width).then_some(Self { network: network & mask(prefix, width), prefix, v6 })
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let (bits, v6) = bits(address);
        let width = if v6 { 128 } else { 32 };
        v6 == self.v6 && bits & mask(self.prefix, width) == self.network
    }
}

fn mask(prefix: u32, width: u32) -> u128 {
    if prefix == 0 {
        return 0;
    }
    let ones = u128::MAX << (128 - prefix);
    ones >> (128 - width)
}

#[cfg(test)]
mod tests {
    use super::Block;

    #[test]
    fn blocks_contain_their_addresses() {
        let block = Block::parse("10.1.0.0/16").unwrap();
        assert!(block.contains("10.1.200.3".parse().unwrap()));
        assert!(!block.contains("10.2.0.1".parse().unwrap()));
        assert!(Block::parse("127.0.0.1").unwrap().contains("127.0.0.1".parse().unwrap()));
        assert!(Block::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(Block::parse("2001:db8::/32").unwrap().contains("2001:db8::1".parse().unwrap()));
        assert!(!Block::parse("2001:db8::/32").unwrap().contains("10.0.0.1".parse().unwrap()));
        assert_eq!(Block::parse("10.0.0.0/33"), None);
        assert_eq!(Block::parse("ten"), None);
    }
}
