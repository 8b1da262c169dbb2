import SelfHealCLI

await SelfHealCommand.runFromCommandLine()
