/**
 * Entry point of the registry-mirrors Pulumi package (PulumiPlugin.yaml): the engine runs this file as the
 * package's provider plugin. It exports no component on purpose: Pulumi's plugin runner would then start its own
 * provider host next to this one. The schema analyzer starts here and finds RegistryMirrors through the imports.
 */
import * as provider from "@pulumi/pulumi/provider";
import { RegistryMirrorsProvider } from "./provider";

export default provider.main(new RegistryMirrorsProvider(), process.argv.slice(2));
