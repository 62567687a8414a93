#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) drc.registry contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_prune
short_description: Delete a repository's tags by retention policy, never breaking a kept image
version_added: 0.1.0
description:
  - Deletes the tags of O(repository) that no rule of O(keep) keeps, and their manifests, with
    the guarantees a shell loop around C(DELETE) lacks.
  - A tag is kept when any rule keeps it. With O(delete_match), only tags matching one of its
    patterns are candidates at all; every other tag is kept.
  - B(Nothing a kept tag uses is deleted.) A manifest is deleted only when no kept tag points at
    it and no kept index lists it; the children of a deleted index are deleted with it only when
    nothing kept uses them. These invariants are checked on the plan before any request that
    deletes; a plan that breaks them is never sent.
  - B(Referrers go with their subject.) cosign's signature, attestation and SBOM tags
    (C(sha256-<hex>.sig), C(.att), C(.sbom)) and the OCI referrers fallback tag (C(sha256-<hex>),
    an index listing the referrers) are never candidates for a rule. They are kept while their
    subject is, and deleted with it; a fallback index that still lists a referrer kept for
    another reason is rewritten to list only the kept ones.
  - A tag that no rule keeps but whose manifest is still used (another kept tag shares its digest,
    or a kept index lists it) is removed alone, with the OCI 1.1 tag C(DELETE), where the registry
    supports it. Registries that do not (the CNCF Distribution registry 2.8) refuse it; the tag is
    then left, the manifest kept, and the tag reported in RV(could_not_delete) with the reason.
  - Deletes go by digest, the children of an index and the referrers of a manifest before it,
    so that a run that is interrupted leaves everything it meant to delete still reachable from a
    tag, and the next run finishes it.
  - A request that deletes and fails (for example C(405 UNSUPPORTED) from a registry with deletes
    disabled) stops the run with the registry's message; the failure lists in RV(deleted) what
    was already deleted.
  - Registries free the blobs of deleted manifests only when their garbage collection runs.
  - See C(docs/prune.md) in the collection for the invariants and a scheduled prune.
requirements:
  - requests
options:
  repository:
    description:
      - The repository, without tag or digest, for example V(registry.example.com/team/app).
    type: str
    required: true
  keep:
    description:
      - The rules that keep tags; any combination. A tag any rule keeps stays.
      - Without O(delete_match), at least one rule is required (an empty policy would delete
        every tag, and is refused).
    type: dict
    default: {}
    suboptions:
      latest:
        description:
          - Keep the newest N candidate tags, ordered by O(keep.sort).
        type: int
      sort:
        description:
          - How O(keep.latest) orders tags. V(created) is the C(created) time of the image config
            (for an index, its newest child's; a tag whose images carry no time counts as the
            oldest); V(semver) orders by version (tags that are not versions count as the oldest).
        type: str
        choices: [created, semver]
        default: created
      match:
        description:
          - Regular expressions (searched anywhere in the tag); a tag matching any is kept.
        type: list
        elements: str
      newer_than:
        description:
          - Keep the tags whose image was created less than this long ago, by the image config's
            C(created) time, written as a number and a unit, V(w), V(d), V(h), V(m) or V(s), for example
            V(30d) or V(1d12h).
        type: str
      semver:
        description:
          - Keep the version tags (C(1.2.3), C(v1.2)) in this range. Comparators C(>=), C(>),
            C(<=), C(<), C(=), C(^), C(~) and wildcards (V(1.x)) joined by spaces, alternatives by
            C(||), for example V(>=1.4.0 <2) or V(^1.4 || ^2).
        type: str
  delete_match:
    description:
      - Regular expressions (searched anywhere in the tag); only tags matching one of them are
        ever deleted, for example V(^pr-) or V(^[0-9a-f]{7,40}$) for per-commit tags. Every other
        tag is kept (reported with the rule C(not_a_candidate)).
      - Referrer tags are never candidates, whatever they match.
    type: list
    elements: str
extends_documentation_fragment:
  - drc.registry.registry
  - drc.registry.registry.actiongroup
attributes:
  check_mode:
    support: full
    description: >-
      Sends only reads and returns the plan: RV(deleted) and RV(kept). A tag that would be removed
      alone is listed in RV(deleted) with C(tag_only=true); on a registry without tag deletion the
      real run reports it in RV(could_not_delete) instead.
  diff_mode:
    support: full
    description: The repository's tag set before and after.
notes:
  - The registry must allow deletion; the CNCF Distribution registry needs
    C(storage.delete.enabled=true).
  - regclient removes a tag that shares its digest with a kept tag by pushing a throwaway manifest
    to that tag and deleting the throwaway manifest. This module does not, because for a moment the tag
    names an image nobody built (a pull in that moment gets it), and a run killed in between
    leaves that image behind under the tag. It uses only the registry's own tag deletion.
  - Only manifests reachable from tags are seen. An index that no tag names is invisible to the
    registry API, so a manifest only such an index lists can be deleted.
seealso:
  - module: drc.registry.registry_manifest
    description: Delete one manifest.
  - module: drc.registry.registry_tags_info
  - module: drc.registry.registry_tag
  - module: drc.registry.registry_referrers_info
    description: What refers to an image; a pruned image's referrers are deleted with it.
  - module: drc.registry.registry_signature_verify
    description: A kept image's signature still verifies after a prune.
author:
  - drc.registry maintainers (@drc-registry)
"""

EXAMPLES = r"""
- name: Keep the three newest builds and every 1.x release; delete other tags
  drc.registry.registry_prune:
    repository: registry.example.com/team/app
    keep:
      latest: 3
      sort: created
      match: ['^v1\.']

- name: Delete per-commit tags older than 30 days, keep at least the 10 newest
  drc.registry.registry_prune:
    repository: registry.example.com/team/app
    delete_match: ['^[0-9a-f]{7,40}$']
    keep:
      newer_than: 30d
      latest: 10

- name: What would go (reads only)
  drc.registry.registry_prune:
    repository: registry.example.com/team/app
    keep:
      semver: '>=2.0.0'
  check_mode: true
  register: plan
"""

RETURN = r"""
deleted:
  description:
    - What was deleted (in check mode, what would be), in the order it happened. One entry per
      tag removed, and one (with C(tag=null)) per untagged manifest deleted with it (an index's
      children, referrers listed by a fallback index).
    - On failure, what was deleted before the failing request.
  returned: always
  type: list
  elements: dict
  contains:
    tag:
      description: The tag, or null for an untagged manifest.
      type: str
    digest:
      description: The manifest's digest.
      type: str
    why:
      description: Why it goes, for example C(kept by no rule) or C(child of the deleted index sha256:...).
      type: str
    tag_only:
      description: Present and true when only the tag went (or would go), its manifest kept.
      type: bool
kept:
  description: Every tag kept, with the rule that keeps it.
  returned: always
  type: list
  elements: dict
  contains:
    tag:
      description: The tag.
      type: str
    digest:
      description: Its digest.
      type: str
    rule:
      description:
        - The first rule that keeps it, V(latest), V(match), V(newer_than), V(semver),
          V(not_a_candidate) (not matched by O(delete_match)), or V(referrer) (a signature,
          attestation, SBOM or fallback tag of a manifest that stays).
      type: str
    rules:
      description: Every rule that keeps it.
      type: list
      elements: str
could_not_delete:
  description: Tags that should have gone but stay, with the reason (a registry without tag deletion).
  returned: always
  type: list
  elements: dict
  contains:
    tag:
      description: The tag.
      type: str
    digest:
      description: The digest it names, kept because a kept tag or index uses it.
      type: str
    reason:
      description: Why it stays, with the registry's own answer.
      type: str
tags_before:
  description: The repository's tags before the run.
  returned: always
  type: list
  elements: str
tags_after:
  description: Its tags after the run (in check mode, as planned).
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.ansible_module import RegistryModule
from ansible_collections.drc.registry.plugins.module_utils._registry.adapters.options import argument_spec
from ansible_collections.drc.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.drc.registry.plugins.module_utils._registry.reference import parse_repository
from ansible_collections.drc.registry.plugins.module_utils._registry.retention import prune_repository
from ansible_collections.drc.registry.plugins.module_utils._registry.retention_rules import Policy

KEEP_OPTIONS = dict(
    latest=dict(type="int"),
    sort=dict(type="str", choices=["created", "semver"], default="created"),
    match=dict(type="list", elements="str"),
    newer_than=dict(type="str"),
    semver=dict(type="str"),
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(
            repository=dict(type="str", required=True),
            keep=dict(type="dict", default={}, options=KEEP_OPTIONS),
            delete_match=dict(type="list", elements="str"),
        ),
        supports_check_mode=True,
    )
    adapter = RegistryModule(module)
    params = module.params
    try:
        policy = Policy(params["keep"], params["delete_match"])
        reference = parse_repository(params["repository"])
        result = prune_repository(adapter.connect(reference), reference.repository, policy,
                                  module.check_mode)
    except RegistryError as exc:
        adapter.fail(exc)
    before, after = result["tags_before"], result["tags_after"]
    if module._diff:
        result["diff"] = {"before": {"tags": before}, "after": {"tags": after}}
    adapter.exit(**result)


if __name__ == "__main__":
    main()
