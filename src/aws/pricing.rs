//! On-demand list prices from the AWS Price List API (GetProducts), whose
//! endpoint is in us-east-1 whatever the workload's region. Every product
//! is one query: its service code, `regionCode` and its TERM_MATCH filters
//! ([`crate::savings::Product`]). A query that matches anything but
//! exactly one product, with one hourly USD on-demand rate, gives
//! `unknown` with the reason; so does a refused call (no permission, no
//! Price List access).

use async_trait::async_trait;
use aws_sdk_pricing::types::{Filter, FilterType};
use aws_sdk_pricing::Client;
use serde_json::Value;

use super::cloud_error;
use crate::ports::{PriceList, PRICE_LIST_NOT_READ};
use crate::savings::{Price, Product};

/// The Price List API's region.
pub const PRICE_LIST_REGION: &str = "us-east-1";

/// [`PriceList`] on the AWS Price List API.
#[derive(Clone, Debug)]
pub struct AwsPriceList {
    client: Client,
}

impl AwsPriceList {
    /// Prices through `client`, which must call [`PRICE_LIST_REGION`].
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// The TERM_MATCH filters of `product`.
pub fn filters(product: &Product) -> Vec<(&str, &str)> {
    let mut all = vec![("regionCode", product.region.as_str())];
    all.extend(product.filters.iter().map(|(f, v)| (f.as_str(), v.as_str())));
    all
}

#[async_trait]
impl PriceList for AwsPriceList {
    async fn price(&self, product: &Product) -> Price {
        let mut call = self
            .client
            .get_products()
            .service_code(&product.service)
            .format_version("aws_v1")
            .max_results(2);
        for (field, value) in filters(product) {
            match Filter::builder()
                .r#type(FilterType::TermMatch)
                .field(field)
                .value(value)
                .build()
            {
                Ok(f) => call = call.filters(f),
                Err(e) => return Price::Unknown(format!("bad filter {field}: {e}")),
            }
        }
        match call.send().await {
            Ok(out) if out.next_token().is_some_and(|t| !t.is_empty()) && out.price_list().len() >= 2 => {
                Price::Unknown("more than one product matched".into())
            }
            Ok(out) => price_of(out.price_list()),
            Err(e) => Price::Unknown(format!(
                "{PRICE_LIST_NOT_READ}: {}",
                cloud_error("pricing", "GetProducts", e)
            )),
        }
    }
}

/// The hourly USD on-demand rate of the one product of `price_list` (the
/// API's JSON documents), or why there is none.
pub fn price_of(price_list: &[String]) -> Price {
    let [document] = price_list else {
        return Price::Unknown(match price_list.len() {
            0 => "no product matched".into(),
            n => format!("{n} products matched"),
        });
    };
    let Ok(doc) = serde_json::from_str::<Value>(document) else {
        return Price::Unknown("unreadable Price List document".into());
    };
    let rates: Vec<&Value> = doc["terms"]["OnDemand"]
        .as_object()
        .into_iter()
        .flat_map(|terms| terms.values())
        .filter_map(|term| term["priceDimensions"].as_object())
        .flat_map(|dims| dims.values())
        .collect();
    let [rate] = rates.as_slice() else {
        return Price::Unknown(format!("{} on-demand rates, not one", rates.len()));
    };
    let unit = rate["unit"].as_str().unwrap_or_default().to_ascii_lowercase();
    // EC2 and RDS say `Hrs`; Fargate `hours` and `GB-Hours`.
    if !(unit == "hrs" || unit.ends_with("hours")) {
        return Price::Unknown(format!("on-demand rate per {}, not per hour", rate["unit"]));
    }
    match rate["pricePerUnit"]["USD"].as_str().map(str::parse::<f64>) {
        Some(Ok(usd)) if usd.is_finite() && usd >= 0.0 => Price::Usd(usd),
        _ => Price::Unknown("no USD on-demand rate".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn document(dims: Value) -> String {
        json!({
            "product": {"attributes": {"instanceType": "t3.small", "regionCode": "eu-west-1"}},
            "terms": {"OnDemand": {"SKU.JRTCKXETXF": {"priceDimensions": dims}}}
        })
        .to_string()
    }

    fn hourly(usd: &str) -> Value {
        json!({"SKU.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": usd}}})
    }

    #[test]
    fn one_product_with_one_hourly_rate_is_its_price() {
        assert_eq!(price_of(&[document(hourly("0.0208000000"))]), Price::Usd(0.0208));
    }

    #[test]
    fn anything_but_one_product_and_one_hourly_rate_is_unknown_with_the_reason() {
        let unknown = |p: Price| match p {
            Price::Unknown(why) => why,
            Price::Usd(u) => panic!("priced {u}"),
        };
        assert_eq!(unknown(price_of(&[])), "no product matched");
        let two = vec![document(hourly("0.1")), document(hourly("0.2"))];
        assert_eq!(unknown(price_of(&two)), "2 products matched");
        let per_gb = json!({"x": {"unit": "GB-Mo", "pricePerUnit": {"USD": "0.1"}}});
        assert!(unknown(price_of(&[document(per_gb)])).contains("not per hour"));
        let two_rates = json!({"a": {"unit": "Hrs", "pricePerUnit": {"USD": "0.1"}}, "b": {"unit": "Hrs", "pricePerUnit": {"USD": "0.2"}}});
        assert!(unknown(price_of(&[document(two_rates)])).contains("2 on-demand rates"));
        assert!(unknown(price_of(&[document(hourly("free"))])).contains("no USD"));
        assert!(unknown(price_of(&["{".into()])).contains("unreadable"));
    }

    #[test]
    fn the_filters_are_the_region_and_the_products_own() {
        let product = Product::ec2("eu-west-1", "m5.large");
        let f = filters(&product);
        let fields: Vec<&str> = f.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            fields,
            [
                "regionCode",
                "capacitystatus",
                "instanceType",
                "licenseModel",
                "operatingSystem",
                "preInstalledSw",
                "tenancy"
            ]
        );
        assert!(f.contains(&("preInstalledSw", "NA")));
        assert!(f.contains(&("regionCode", "eu-west-1")));
    }

    #[test]
    fn fargate_rates_per_hour_and_per_gb_hour_are_hourly() {
        let per = |unit: &str| json!({"x": {"unit": unit, "pricePerUnit": {"USD": "0.04"}}});
        assert_eq!(price_of(&[document(per("hours"))]), Price::Usd(0.04));
        assert_eq!(price_of(&[document(per("GB-Hours"))]), Price::Usd(0.04));
    }
}
