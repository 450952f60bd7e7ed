//! POST of a new object.

use http::Response;

use crate::apimachinery::status::ApiResult;
use crate::encoding::http::{Accept, Body, Request, decode_body};
use crate::encoding::protobuf::proto_definition;
use crate::endpoints::handlers::response::{respond, with_warnings};
use crate::registry::generic::admitted_write;
use crate::registry::rest::WriteOpts;
use crate::state::{State, Target};

pub(super) async fn create(
    state: &State,
    req: &Request,
    accept: &Accept,
    target: &Target,
) -> ApiResult<Response<Body>> {
    let opts = WriteOpts::from_request(req)?;
    let body = decode_body(req, proto_definition(&target.rt))?;
    let w = admitted_write(
        state,
        &req.user,
        target,
        None,
        body,
        &opts,
        crate::registry::managed::Operation::Update,
    )
    .await?;
    Ok(with_warnings(
        respond(req, accept, target, 201, &w.object),
        &w.warnings,
    ))
}
