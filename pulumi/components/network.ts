import * as aws from '@pulumi/aws'
import * as pulumi from '@pulumi/pulumi'

export interface NetworkArgs {
	/** IPv4 range of the VPC; at most a /16 so every subnet below gets at least a /20 (4,096 addresses). */
	cidrBlock: string
	/** How many availability zones to span (2 or 3). */
	azCount: number
	/** Pin the zones (e.g. `['eu-west-1a', 'eu-west-1b']`); left out, the first `azCount` available zones are used. */
	availabilityZones?: string[]
	/**
	 * One NAT gateway for the whole VPC instead of one per zone: cheaper (≈ 32 USD/month and its data
	 * processing per gateway saved) but private subnets lose outbound internet when that zone fails.
	 * Left out: one per zone.
	 */
	singleNatGateway?: boolean
	tags?: Record<string, string>
}

/**
 * subnetCidr carves the `index`-th subnet of `newBits` extra prefix bits out of an IPv4 CIDR,
 * like Terraform's cidrsubnet: subnetCidr('10.0.0.0/16', 4, 1) === '10.0.16.0/20'.
 */
export function subnetCidr(cidr: string, newBits: number, index: number): string {
	const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr)
	if (!match) throw new Error(`not an IPv4 CIDR: ${cidr}`)
	const octets = match.slice(1, 5).map(Number)
	const prefix = Number(match[5])
	if (octets.some((o) => o > 255) || prefix > 32) throw new Error(`not an IPv4 CIDR: ${cidr}`)
	const newPrefix = prefix + newBits
	if (newPrefix > 28) throw new Error(`${cidr} is too small for /${newPrefix} subnets`)
	if (index < 0 || index >= 2 ** newBits) throw new Error(`subnet ${index} does not fit ${newBits} bits`)
	const base = octets.reduce((acc, o) => acc * 256 + o, 0)
	const hostBits = 32 - prefix
	const network = base - (base % 2 ** hostBits)
	const address = network + index * 2 ** (32 - newPrefix)
	const parts = [24, 16, 8, 0].map((shift) => Math.floor(address / 2 ** shift) % 256)
	return `${parts.join('.')}/${newPrefix}`
}

/**
 * Network is the VPC gavel runs in: one public and one private subnet per zone, an internet
 * gateway for the public ones, NAT for the private ones (image pulls, Secrets Manager, logs,
 * JWKS), and a free S3 gateway endpoint so ECR image layers do not pay NAT data processing.
 * Everything that holds state or runs tasks lives in the private subnets.
 */
export class Network extends pulumi.ComponentResource {
	public readonly vpcId: pulumi.Output<string>
	public readonly vpcCidrBlock: pulumi.Output<string>
	public readonly publicSubnetIds: pulumi.Output<string>[]
	public readonly privateSubnetIds: pulumi.Output<string>[]
	public readonly availabilityZones: pulumi.Output<string>[]

	constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
		super('gavel:infra:Network', name, {}, opts)
		if (!Number.isInteger(args.azCount) || args.azCount < 2 || args.azCount > 3)
			throw new Error(`azCount must be 2 or 3 (got ${args.azCount})`)
		if (args.availabilityZones && args.availabilityZones.length < args.azCount)
			throw new Error(`availabilityZones lists ${args.availabilityZones.length} zones, azCount is ${args.azCount}`)
		if (args.availabilityZones && new Set(args.availabilityZones.slice(0, args.azCount)).size < args.azCount)
			throw new Error(`availabilityZones lists a zone twice (${args.availabilityZones.join(', ')}): two NATS nodes would share it`)
		const tags = args.tags ?? {}
		const parent = { parent: this }

		const zones = args.availabilityZones
			? args.availabilityZones.slice(0, args.azCount).map((zone) => pulumi.output(zone))
			: zonesFromRegion(args.azCount, this)

		const vpc = new aws.ec2.Vpc(
			`${name}-vpc`,
			{
				cidrBlock: args.cidrBlock,
				// Cloud Map names (NATS routes) and EFS mount names resolve through the VPC resolver.
				enableDnsHostnames: true,
				enableDnsSupport: true,
				tags: { ...tags, Name: `${name}-vpc` },
			},
			parent,
		)
		const igw = new aws.ec2.InternetGateway(`${name}-igw`, { vpcId: vpc.id, tags: { ...tags, Name: `${name}-igw` } }, parent)

		const publicRoutes = new aws.ec2.RouteTable(
			`${name}-public-rt`,
			{ vpcId: vpc.id, tags: { ...tags, Name: `${name}-public` } },
			parent,
		)
		new aws.ec2.Route(
			`${name}-public-default`,
			{ routeTableId: publicRoutes.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.id },
			parent,
		)

		const publicSubnets: aws.ec2.Subnet[] = []
		const privateSubnets: aws.ec2.Subnet[] = []
		const privateRouteTables: aws.ec2.RouteTable[] = []
		const natGateways: aws.ec2.NatGateway[] = []
		zones.forEach((zone, i) => {
			const publicSubnet = new aws.ec2.Subnet(
				`${name}-public-${i}`,
				{
					vpcId: vpc.id,
					availabilityZone: zone,
					// /20s: public ones take indexes 0..2, private ones 8..10 of the VPC range.
					cidrBlock: subnetCidr(args.cidrBlock, 4, i),
					// Only the load balancer and NAT live here, and neither needs an auto-assigned address.
					mapPublicIpOnLaunch: false,
					tags: { ...tags, Name: `${name}-public-${i}`, tier: 'public' },
				},
				parent,
			)
			new aws.ec2.RouteTableAssociation(
				`${name}-public-${i}`,
				{ subnetId: publicSubnet.id, routeTableId: publicRoutes.id },
				parent,
			)
			publicSubnets.push(publicSubnet)

			if (i === 0 || !args.singleNatGateway) {
				const eip = new aws.ec2.Eip(`${name}-nat-${i}`, { domain: 'vpc', tags: { ...tags, Name: `${name}-nat-${i}` } }, parent)
				natGateways.push(
					new aws.ec2.NatGateway(
						`${name}-nat-${i}`,
						{ allocationId: eip.id, subnetId: publicSubnet.id, tags: { ...tags, Name: `${name}-nat-${i}` } },
						{ parent: this, dependsOn: [igw] },
					),
				)
			}
			const nat = natGateways[args.singleNatGateway ? 0 : i]
			if (!nat) throw new Error(`no NAT gateway for zone ${i}`)

			const privateSubnet = new aws.ec2.Subnet(
				`${name}-private-${i}`,
				{
					vpcId: vpc.id,
					availabilityZone: zone,
					cidrBlock: subnetCidr(args.cidrBlock, 4, 8 + i),
					mapPublicIpOnLaunch: false,
					tags: { ...tags, Name: `${name}-private-${i}`, tier: 'private' },
				},
				parent,
			)
			const privateRoutes = new aws.ec2.RouteTable(
				`${name}-private-rt-${i}`,
				{ vpcId: vpc.id, tags: { ...tags, Name: `${name}-private-${i}` } },
				parent,
			)
			new aws.ec2.Route(
				`${name}-private-default-${i}`,
				{ routeTableId: privateRoutes.id, destinationCidrBlock: '0.0.0.0/0', natGatewayId: nat.id },
				parent,
			)
			new aws.ec2.RouteTableAssociation(
				`${name}-private-${i}`,
				{ subnetId: privateSubnet.id, routeTableId: privateRoutes.id },
				parent,
			)
			privateSubnets.push(privateSubnet)
			privateRouteTables.push(privateRoutes)
		})

		const region = aws.getRegionOutput({}, parent)
		new aws.ec2.VpcEndpoint(
			`${name}-s3`,
			{
				vpcId: vpc.id,
				serviceName: pulumi.interpolate`com.amazonaws.${region.region}.s3`,
				vpcEndpointType: 'Gateway',
				routeTableIds: privateRouteTables.map((rt) => rt.id),
				tags: { ...tags, Name: `${name}-s3` },
			},
			parent,
		)

		this.vpcId = vpc.id
		this.vpcCidrBlock = vpc.cidrBlock
		this.publicSubnetIds = publicSubnets.map((s) => s.id)
		this.privateSubnetIds = privateSubnets.map((s) => s.id)
		this.availabilityZones = zones
		this.registerOutputs({
			vpcId: this.vpcId,
			publicSubnetIds: this.publicSubnetIds,
			privateSubnetIds: this.privateSubnetIds,
		})
	}
}

function zonesFromRegion(count: number, parent: pulumi.Resource): pulumi.Output<string>[] {
	// Only zones proper: Local Zones and Wavelength zones lack Fargate, ElastiCache and RDS Multi-AZ.
	const available = aws.getAvailabilityZonesOutput(
		{ state: 'available', filters: [{ name: 'opt-in-status', values: ['opt-in-not-required'] }] },
		{ parent },
	)
	return Array.from({ length: count }, (_, i) =>
		available.names.apply((names) => {
			const zone = names[i]
			if (zone === undefined) throw new Error(`the region has ${names.length} availability zones, azCount asks for ${count}`)
			return zone
		}),
	)
}
