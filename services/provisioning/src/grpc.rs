//! The gRPC API `ringside.provisioning.v1.Provisioning`
//! (proto/ringside/provisioning/v1/provisioning.proto): the REST admin API's
//! entities, DID allocation, PBX servers, audit log and CDR report, as typed
//! messages over the same [`Provisioning`] facade. Roles, validation, tenant
//! scoping, audit rows and events all happen in the facade, so the two APIs
//! cannot drift apart; this layer only translates.
//!
//! It does not authenticate. Whoever mounts it (the gateway) verifies the
//! caller and puts the caller's [`Actor`] into the request extensions, e.g.
//! from a tonic interceptor; a request without one is `UNAUTHENTICATED`. A
//! request's `tenant` then scopes the actor by [`Actor::acting_in`], the
//! REST `?tenant=` rule. Errors map as [`status`] says.
//!
//! Module map: `answer` (rows → messages), `input` (requests → facade
//! inputs), `report` (audit and CDR filters), `status` (errors), `tenant`
//! (the acting-tenant rule).

mod answer;
mod input;
mod report;
mod status;
mod tenant;

use std::sync::Arc;

use ringside_proto::provisioning::v1 as pb;
use ringside_proto::provisioning::v1::provisioning_server::{
    Provisioning as ProvisioningRpc, ProvisioningServer,
};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::model::{Actor, Did, Page};
use crate::service::Provisioning;
use input::required;
pub use status::{FIELD_ERRORS_KEY, status};

/// The `Provisioning` gRPC service over the facade. It holds the facade in an
/// `Arc` so the process can share one with the REST routes.
#[derive(Clone)]
pub struct ProvisioningApi {
    prov: Arc<Provisioning>,
}

impl ProvisioningApi {
    /// The service over `prov`.
    pub fn new(prov: Arc<Provisioning>) -> Self {
        ProvisioningApi { prov }
    }

    /// The tonic server of this service, ready for `Server::add_service` or
    /// `Routes::new`.
    pub fn into_server(self) -> ProvisioningServer<ProvisioningApi> {
        ProvisioningServer::new(self)
    }

    /// A row as its message.
    async fn plain<T, P: From<T>>(&self, _actor: &Actor, row: T) -> Result<P, Status> {
        Ok(row.into())
    }

    /// A DID as its message, with its allocation (as REST shows it).
    async fn with_allocation(&self, actor: &Actor, did: Did) -> Result<pb::Did, Status> {
        let allocation = self
            .prov
            .did_allocation(actor, did.id)
            .await
            .map_err(status)?;
        Ok(answer::did(did, allocation))
    }
}

/// The caller that the embedding server put into the extensions, acting in
/// the tenant the request names.
fn caller<T>(request: &Request<T>, tenant: Option<&str>) -> Result<Actor, Status> {
    request
        .extensions()
        .get::<Actor>()
        .ok_or_else(|| Status::unauthenticated("no authenticated caller"))?
        .acting_in(tenant)
        .map_err(status)
}

/// A row id: text that is not a UUID cannot name a row, so it is "not found"
/// like another tenant's id (as in REST).
fn row_id(text: &str, entity: &str) -> Result<Uuid, Status> {
    Uuid::parse_str(text.trim()).map_err(|_| Status::not_found(format!("{entity} not found")))
}

/// `page`/`per_page` of a request, defaulted and capped like REST's
/// `limit`/`offset`.
#[derive(Clone, Copy)]
struct Paging {
    page: u32,
    per_page: u32,
}

impl Paging {
    fn new(page: u32, per_page: u32) -> Paging {
        let default = Page::default().limit;
        Paging {
            page: page.max(1),
            per_page: if per_page == 0 {
                default
            } else {
                per_page.min(1000)
            },
        }
    }

    fn page(self) -> Page {
        Page {
            limit: self.per_page,
            offset: u64::from(self.page - 1) * u64::from(self.per_page),
        }
    }
}

/// Generates the trait impl: five RPCs per entity (all alike but for the
/// types, the request's input field and how a row becomes its message), then
/// the hand-written RPCs given after `rest`.
macro_rules! provisioning_rpcs {
    (
        crud {$(
            $entity:literal: $out:ident, $input:ident from $field:ident, reply $reply:ident,
            $list:ident -> $list_resp:ident, $get:ident,
            $create:ident($create_req:ident), $update:ident($update_req:ident), $delete:ident;
        )*}
        rest { $($rest:tt)* }
    ) => {
        #[tonic::async_trait]
        impl ProvisioningRpc for ProvisioningApi {
            $(
            async fn $list(
                &self,
                request: Request<pb::ListRequest>,
            ) -> Result<Response<pb::$list_resp>, Status> {
                let r = request.get_ref();
                let actor = caller(&request, r.tenant.as_deref())?;
                let paging = Paging::new(r.page, r.per_page);
                let rows = self.prov.$list(&actor, paging.page()).await.map_err(status)?;
                let mut items = Vec::with_capacity(rows.items.len());
                for row in rows.items {
                    items.push(self.$reply(&actor, row).await?);
                }
                Ok(Response::new(pb::$list_resp {
                    items,
                    total: rows.total,
                    page: paging.page,
                    per_page: paging.per_page,
                }))
            }

            async fn $get(
                &self,
                request: Request<pb::IdRequest>,
            ) -> Result<Response<pb::$out>, Status> {
                let r = request.get_ref();
                let actor = caller(&request, r.tenant.as_deref())?;
                let id = row_id(&r.id, $entity)?;
                let row = self.prov.$get(&actor, id).await.map_err(status)?;
                Ok(Response::new(self.$reply(&actor, row).await?))
            }

            async fn $create(
                &self,
                request: Request<pb::$create_req>,
            ) -> Result<Response<pb::$out>, Status> {
                let actor = caller(&request, request.get_ref().tenant.as_deref())?;
                let input = required(request.into_inner().$field, stringify!($field))
                    .and_then(crate::model::$input::try_from)
                    .map_err(|v| status::invalid(&v))?;
                let row = self.prov.$create(&actor, input).await.map_err(status)?;
                Ok(Response::new(self.$reply(&actor, row).await?))
            }

            async fn $update(
                &self,
                request: Request<pb::$update_req>,
            ) -> Result<Response<pb::$out>, Status> {
                let actor = caller(&request, request.get_ref().tenant.as_deref())?;
                let r = request.into_inner();
                let id = row_id(&r.id, $entity)?;
                let input = required(r.$field, stringify!($field))
                    .and_then(crate::model::$input::try_from)
                    .map_err(|v| status::invalid(&v))?;
                let row = self.prov.$update(&actor, id, input).await.map_err(status)?;
                Ok(Response::new(self.$reply(&actor, row).await?))
            }

            async fn $delete(
                &self,
                request: Request<pb::IdRequest>,
            ) -> Result<Response<pb::$out>, Status> {
                let r = request.get_ref();
                let actor = caller(&request, r.tenant.as_deref())?;
                let id = row_id(&r.id, $entity)?;
                let row = self.prov.$delete(&actor, id).await.map_err(status)?;
                Ok(Response::new(self.$reply(&actor, row).await?))
            }
            )*

            $($rest)*
        }
    };
}

provisioning_rpcs! {
    crud {
        "customer": Customer, CustomerInput from customer, reply plain,
            list_customers -> ListCustomersResponse, get_customer,
            create_customer(CreateCustomerRequest), update_customer(UpdateCustomerRequest),
            delete_customer;
        "provider": Provider, ProviderInput from provider, reply plain,
            list_providers -> ListProvidersResponse, get_provider,
            create_provider(CreateProviderRequest), update_provider(UpdateProviderRequest),
            delete_provider;
        "gateway": Gateway, GatewayInput from gateway, reply plain,
            list_gateways -> ListGatewaysResponse, get_gateway,
            create_gateway(CreateGatewayRequest), update_gateway(UpdateGatewayRequest),
            delete_gateway;
        "DID": Did, DidInput from did, reply with_allocation,
            list_dids -> ListDidsResponse, get_did,
            create_did(CreateDidRequest), update_did(UpdateDidRequest),
            delete_did;
        "route": Route, RouteInput from route, reply plain,
            list_routes -> ListRoutesResponse, get_route,
            create_route(CreateRouteRequest), update_route(UpdateRouteRequest),
            delete_route;
        "extension": Extension, ExtensionInput from extension, reply plain,
            list_extensions -> ListExtensionsResponse, get_extension,
            create_extension(CreateExtensionRequest), update_extension(UpdateExtensionRequest),
            delete_extension;
        "tariff": Tariff, TariffInput from tariff, reply plain,
            list_tariffs -> ListTariffsResponse, get_tariff,
            create_tariff(CreateTariffRequest), update_tariff(UpdateTariffRequest),
            delete_tariff;
    }
    rest {
        async fn allocate_did(
            &self,
            request: Request<pb::AllocateDidRequest>,
        ) -> Result<Response<pb::Allocation>, Status> {
            let actor = caller(&request, request.get_ref().tenant.as_deref())?;
            let r = request.into_inner();
            let id = row_id(&r.id, "DID")?;
            let mut fields = input::Fields::default();
            let customer_id = fields.uuid("customer_id", &r.customer_id);
            let input = fields
                .finish(crate::model::AllocationInput {
                    customer_id,
                    destination: input::given(Some(&r.destination))
                        .unwrap_or("trunk")
                        .to_owned(),
                })
                .map_err(|v| status::invalid(&v))?;
            let allocation = self
                .prov
                .allocate_did(&actor, id, input)
                .await
                .map_err(status)?;
            Ok(Response::new(allocation.into()))
        }

        async fn deallocate_did(
            &self,
            request: Request<pb::IdRequest>,
        ) -> Result<Response<pb::Allocation>, Status> {
            let r = request.get_ref();
            let actor = caller(&request, r.tenant.as_deref())?;
            let id = row_id(&r.id, "DID")?;
            let allocation = self.prov.deallocate_did(&actor, id).await.map_err(status)?;
            Ok(Response::new(allocation.into()))
        }

        async fn list_pbx_servers(
            &self,
            request: Request<pb::ListRequest>,
        ) -> Result<Response<pb::ListPbxServersResponse>, Status> {
            let r = request.get_ref();
            let actor = caller(&request, r.tenant.as_deref())?;
            let paging = Paging::new(r.page, r.per_page);
            let rows = self
                .prov
                .list_pbx_servers(&actor, paging.page())
                .await
                .map_err(status)?;
            Ok(Response::new(pb::ListPbxServersResponse {
                items: rows.items.into_iter().map(Into::into).collect(),
                total: rows.total,
                page: paging.page,
                per_page: paging.per_page,
            }))
        }

        async fn list_audit_log(
            &self,
            request: Request<pb::ListAuditLogRequest>,
        ) -> Result<Response<pb::ListAuditLogResponse>, Status> {
            let r = request.get_ref();
            let actor = caller(&request, r.tenant.as_deref())?;
            let paging = Paging::new(r.page, r.per_page);
            let filter = report::audit_filter(r).map_err(|v| status::invalid(&v))?;
            let rows = self
                .prov
                .audit_log(&actor, &filter, paging.page())
                .await
                .map_err(status)?;
            Ok(Response::new(pb::ListAuditLogResponse {
                items: rows.items.into_iter().map(Into::into).collect(),
                total: rows.total,
                page: paging.page,
                per_page: paging.per_page,
            }))
        }

        async fn cdr_report(
            &self,
            request: Request<pb::CdrReportRequest>,
        ) -> Result<Response<pb::CdrReportResponse>, Status> {
            let r = request.get_ref();
            let actor = caller(&request, r.tenant.as_deref())?;
            let paging = Paging::new(r.page, r.per_page);
            let filter = report::cdr_filter(&self.prov, &actor, r).await?;
            let report = self
                .prov
                .cdr_report(&actor, &filter, paging.page())
                .await
                .map_err(status)?;
            Ok(Response::new(pb::CdrReportResponse {
                page: paging.page,
                per_page: paging.per_page,
                ..answer::cdr_report(report)
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_count_from_one_and_are_capped() {
        let p = Paging::new(0, 0);
        assert_eq!((p.page, p.per_page), (1, 50));
        assert_eq!(
            p.page(),
            Page {
                limit: 50,
                offset: 0
            }
        );
        let p = Paging::new(3, 5000);
        assert_eq!(
            p.page(),
            Page {
                limit: 1000,
                offset: 2000
            }
        );
    }
}
