# PSScriptAnalyzer settings for the scripts the bundle generates (the release workflow's
# Windows job runs tests/pester/Invoke-Analyzer.ps1 with this file). Microsoft's SDN modules are
# upstream code shipped as pinned and are not analysed.
@{
    Severity     = @('Error', 'Warning')
    ExcludeRules = @(
        # The node scripts talk to the operator at a console: Write-Host is their output, on purpose.
        'PSAvoidUsingWriteHost',
        # Scripts, not reusable cmdlets: -WhatIf/-Confirm on every internal helper adds nothing.
        'PSUseShouldProcessForStateChangingFunctions',
        # Internal helper names such as Assert-FilesExist and Set-FirewallRules read better plural.
        'PSUseSingularNouns',
        # Param() defaults are the cluster's values, documented as run-time overrides; a network
        # mode or runtime leaves some of them unused on purpose.
        'PSReviewUnusedParameter',
        # Template branches (runtime, bundled containerd, network mode) leave some script-level
        # variables assigned but unread in one combination and read in another.
        'PSUseDeclaredVarsMoreThanAssignments'
    )
    Rules        = @{
        PSAvoidUsingCmdletAliases = @{ Enable = $true }
    }
}
