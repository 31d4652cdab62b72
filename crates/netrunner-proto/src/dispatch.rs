//! Runs one decoded request against a [`Backend`].

use crate::backend::{Backend, RequestContext};
use crate::error::RpcError;
use crate::messages::{Request, Response};

/// Calls the backend method for `request` and wraps its answer. StreamStatus is not
/// handled here (it is not one answer); the connection runs it.
pub(crate) async fn unary<B: Backend>(
    backend: &B,
    ctx: RequestContext,
    request: Request,
) -> Result<Response, RpcError> {
    Ok(match request {
        Request::Ping => Response::Ping {
            pid: backend.ping(ctx).await?,
        },
        Request::RpcVersion => Response::RpcVersion {
            version: backend.rpc_version(ctx).await?,
        },
        Request::Health => Response::Cluster(backend.health(ctx).await?),
        Request::WaitForHealthy => Response::Cluster(backend.wait_for_healthy(ctx).await?),
        Request::Uris => Response::Uris(backend.uris(ctx).await?),
        Request::Status => Response::Cluster(backend.status(ctx).await?),
        Request::StreamStatus { .. } => {
            return Err(RpcError::internal(
                "StreamStatus reached the unary dispatcher",
            ));
        }
        Request::Start(r) => Response::ChainIds(backend.start(ctx, r).await?),
        Request::CreateBlockchains(specs) => {
            Response::ChainIds(backend.create_blockchains(ctx, specs).await?)
        }
        Request::CreateChains(specs) => {
            Response::ChainIds(backend.create_chains(ctx, specs).await?)
        }
        Request::TransformElasticChains(specs) => {
            Response::TransformElasticChains(backend.transform_elastic_chains(ctx, specs).await?)
        }
        Request::AddPermissionlessValidator(specs) => {
            Response::Cluster(backend.add_permissionless_validator(ctx, specs).await?)
        }
        Request::RemoveChainValidator(specs) => {
            Response::Cluster(backend.remove_chain_validator(ctx, specs).await?)
        }
        Request::AddNode(r) => Response::Cluster(backend.add_node(ctx, r).await?),
        Request::RemoveNode { name } => Response::Cluster(backend.remove_node(ctx, name).await?),
        Request::RestartNode(r) => Response::Cluster(backend.restart_node(ctx, r).await?),
        Request::PauseNode { name } => Response::Cluster(backend.pause_node(ctx, name).await?),
        Request::ResumeNode { name } => Response::Cluster(backend.resume_node(ctx, name).await?),
        Request::AttachPeer { node_name } => {
            Response::AttachPeer(backend.attach_peer(ctx, node_name).await?)
        }
        Request::SendOutboundMessage(r) => Response::SendOutboundMessage {
            sent: backend.send_outbound_message(ctx, r).await?,
        },
        Request::SaveSnapshot { snapshot_name } => {
            Response::SnapshotPath(backend.save_snapshot(ctx, snapshot_name).await?)
        }
        Request::SaveHotSnapshot { snapshot_name } => {
            Response::SnapshotPath(backend.save_hot_snapshot(ctx, snapshot_name).await?)
        }
        Request::LoadSnapshot(r) => Response::Cluster(backend.load_snapshot(ctx, r).await?),
        Request::RemoveSnapshot { snapshot_name } => {
            backend.remove_snapshot(ctx, snapshot_name).await?;
            Response::Empty
        }
        Request::GetSnapshotNames => {
            Response::SnapshotNames(backend.get_snapshot_names(ctx).await?)
        }
        Request::Stop => Response::Cluster(backend.stop(ctx).await?),
    })
}
