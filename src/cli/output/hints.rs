//! What to do about a failing gate, per check kind: the table prints it under a failure whose
//! fix the message does not make obvious, and SARIF carries it as each rule's help.

/// The fix, in one sentence, for a failing gate of this kind.
pub fn help(kind: &str) -> &'static str {
    match kind {
        "probes" => {
            "Add a readinessProbe and a livenessProbe (httpGet, tcpSocket, grpc or exec) to each container of spec.template.spec.containers; they must not be identical."
        }
        "resources" => {
            "Set resources.requests (cpu, memory) and resources.limits.memory on each container, within the item's ranges."
        }
        "image" => {
            "Pin each image to a version tag (or a digest, if the item asks), from an allowed registry, with the required imagePullPolicy."
        }
        "securityContext" => {
            "Set runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities.drop: [ALL] and seccompProfile.type: RuntimeDefault on the pod or each container."
        }
        "replicas" => {
            "Raise spec.replicas (or the HorizontalPodAutoscaler's minReplicas) to the item's minimum."
        }
        "spread" => {
            "Add a topologySpreadConstraint (or podAntiAffinity) on the item's topology key to spec.template.spec."
        }
        "serviceAccount" => {
            "Give the Deployment its own ServiceAccount (spec.template.spec.serviceAccountName) and set automountServiceAccountToken: false unless it calls the API server."
        }
        "hpa" => {
            "Ship one HorizontalPodAutoscaler whose scaleTargetRef names this Deployment, within the item's bounds and metrics."
        }
        "podDisruptionBudget" => {
            "Ship one PodDisruptionBudget whose selector matches the pod labels and that allows at least one disruption at the lowest replica count."
        }
        "networkPolicy" => {
            "Ship a NetworkPolicy whose podSelector matches the pod labels, with the policy types the item requires."
        }
        "service" => {
            "Ship a Service whose selector matches the pod labels and whose named targetPorts exist on the containers."
        }
        "pvcsBound" => {
            "Ship every PersistentVolumeClaim the pod template mounts, or declare it with --assume-present pvc/NAME."
        }
        "secrets" => {
            "Ship every Secret the pod template references, with the keys it uses, or declare it with --assume-present secret/NAME (or mark the reference optional)."
        }
        "configMaps" => {
            "Ship every ConfigMap the pod template references, with the keys it uses, or declare it with --assume-present configmap/NAME."
        }
        "tlsCertificate" => {
            "Renew the certificate in the kubernetes.io/tls Secret so it stays valid for the item's days and covers its hostnames."
        }
        "rollout" => {
            "Wait for the rollout to complete, or look at why its pods do not become ready."
        }
        "readyReplicas" => "Look at why pods do not become ready (kubectl describe pods).",
        "http" => {
            "Make the endpoint answer the expected status and body within the timeout, through the named Service port."
        }
        "prometheus" => "Bring the queried metric within the item's threshold.",
        "approval" => {
            "Record the sign-off: gonogo approve (a ReadinessApproval bound to the current revision)."
        }
        "cel" => "Change the Deployment or its related objects so the item's CEL expression holds.",
        "job" => {
            "Run the Job to completion (a Failed Job does not restart: fix the cause and create it again), or let the CronJob succeed."
        }
        "resource" => {
            "Create the objects the item names, or bring them to the condition or expression it asks for."
        }
        _ => "See the check kind in the README.",
    }
}

/// What to do, for the kinds whose failure messages say what is wrong but not how to fix it;
/// the table prints it once per kind and evaluation. (Messages such as "no readinessProbe"
/// or "missing key X" need no hint.)
pub fn not_obvious(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "spread" => {
            "add a topologySpreadConstraint with whenUnsatisfiable: DoNotSchedule (or a required podAntiAffinity) on that topology key to spec.template.spec"
        }
        "podDisruptionBudget" => {
            "raise the replicas (or the HPA's minReplicas), or lower minAvailable / raise maxUnavailable, so that one pod may be evicted"
        }
        "serviceAccount" => {
            "ship a ServiceAccount for the app and set spec.template.spec.serviceAccountName (automountServiceAccountToken: false unless it calls the API server)"
        }
        "tlsCertificate" => {
            "renew the certificate in the Secret (with cert-manager, look at the Certificate's status)"
        }
        "networkPolicy" => "ship a NetworkPolicy whose podSelector matches the pod labels",
        "service" => "ship a Service whose selector matches the pod labels",
        "cel" => "the item's description says what its expression asks for",
        _ => return None,
    })
}

/// The README anchor of a check kind's section.
pub fn anchor(kind: &str) -> String {
    kind.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_has_its_own_help() {
        for kind in crate::checks::KINDS {
            assert_ne!(
                super::help(kind),
                super::help("no such kind"),
                "no help for {kind}"
            );
        }
    }
}
