//! Which fortress a scenario runs against, and changes to the emulated project.

use cucumber::given;

use super::Member;
use crate::stack::Change;
use crate::world::FortressWorld;

#[given(expr = "the fortress is running")]
async fn the_fortress_is_running(w: &mut FortressWorld) -> Result<(), String> {
    w.fortress().await.map(drop)
}

#[given(expr = "a fortress where {word} sets {string} to {string}")]
async fn a_fortress_where(
    w: &mut FortressWorld,
    document: String,
    path: String,
    value: String,
) -> Result<(), String> {
    let value = crate::world::unescape(&value);
    w.vary(&document, &path, &value).await
}

#[given(expr = "{string} has ingress {string}")]
async fn has_ingress(
    w: &mut FortressWorld,
    service: String,
    ingress: String,
) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    let ingress = blueprint::Ingress::parse(&ingress).map_err(|e| e.to_string())?;
    f.change(Change::Ingress(service, ingress)).await
}

async fn member(w: &mut FortressWorld, who: &Member) -> Result<blueprint::Member, String> {
    let text = w.expand(&who.as_iam()).await?;
    blueprint::Member::parse(&text).map_err(|e| e.to_string())
}

#[given(expr = "{member} is an invoker of {string}")]
async fn is_an_invoker(w: &mut FortressWorld, who: Member, service: String) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    let m = member(w, &who).await?;
    f.change(Change::AddInvoker(service, m)).await
}

#[given(expr = "{member} is not an invoker of {string}")]
async fn is_not_an_invoker(
    w: &mut FortressWorld,
    who: Member,
    service: String,
) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    let m = member(w, &who).await?;
    f.change(Change::RemoveInvoker(service, m)).await
}

#[given(expr = "{member} is removed from the IAP access list of {string}")]
async fn removed_from_iap(
    w: &mut FortressWorld,
    who: Member,
    service: String,
) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    let m = member(w, &who).await?;
    f.change(Change::RemoveIapAccessor(service, m)).await
}

#[given(expr = "{member} is added to the IAP access list of {string}")]
async fn added_to_iap(w: &mut FortressWorld, who: Member, service: String) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    let m = member(w, &who).await?;
    f.change(Change::AddIapAccessor(service, m)).await
}

#[given(expr = "{string} takes {int} milliseconds to answer")]
async fn takes_to_answer(
    w: &mut FortressWorld,
    service: String,
    millis: u64,
) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    f.change(Change::Delay(
        service,
        std::time::Duration::from_millis(millis),
    ))
    .await
}

fn issuer(name: &str) -> Result<iap_lb_emulator::Issuer, String> {
    iap_lb_emulator::Issuer::parse(name)
        .ok_or_else(|| format!("{name:?}: expected google, securetoken or iap"))
}

#[given(expr = "the {word} signing key is rotated")]
async fn rotated(w: &mut FortressWorld, name: String) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    f.change(Change::Rotate(issuer(&name)?, false)).await
}

#[given(expr = "the {word} signing key is rotated and the old one retired")]
async fn rotated_and_retired(w: &mut FortressWorld, name: String) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    f.change(Change::Rotate(issuer(&name)?, true)).await
}

#[given(expr = "the {word} key endpoints answer {int}")]
async fn key_fault(w: &mut FortressWorld, name: String, status: u16) -> Result<(), String> {
    let f = w.fortress_to_change().await?;
    let status = http::StatusCode::from_u16(status).map_err(|e| e.to_string())?;
    f.change(Change::KeyFault(issuer(&name)?, status)).await
}
